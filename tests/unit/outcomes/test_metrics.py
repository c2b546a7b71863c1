"""Outcome metrics on SQLite and PostgreSQL: slices, filters, the range, rates and bad queries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from recsvc.errors import InvalidArgument
from recsvc.outcomes import OutcomeQuery
from recsvc.vocabulary import OUTCOME_DIMENSIONS
from tests.unit.outcomes.conftest import T0, OutcomeDbFactory, event, record

H = timedelta(hours=1)
RANGE = (T0 - H, T0 + 10 * H)


def test_rows_by_channel_and_trigger_with_counts_and_rates(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("p1", user="a"))
    db.book(record("p2", user="b"))
    db.book(record("s1", user="c", channel="sms", trigger="cart_idle"))
    db.book(record("outside", user="d", booked=T0 + 20 * H))  # booked after the range
    db.report(
        event("d1", "push_delivered", T0 + 2 * H, user="a", dedupe_key="p1"),
        event("o1", "push_opened", T0 + 2 * H, user="a", dedupe_key="p1"),
        event("c1", "push_clicked", T0 + 2 * H, user="a", dedupe_key="p1"),
        event("b1", "purchase", T0 + 3 * H, user="a", value=20.0),
        event("b2", "purchase", T0 + 4 * H, user="a", value=5.0),
        event("f1", "feedback", T0 + 3 * H, user="b", payload='{"rating": 2, "reasons": ["too_many"]}'),
        event("f2", "feedback", T0 + 3 * H, user="b", payload='{"reasons": ["bad_time"]}'),
        event("s-click", "sms_clicked", T0 + 2 * H, user="c"),
    )
    rows = db.log.outcomes(OutcomeQuery(*RANGE, group_by=("channel", "trigger")))
    assert [(r.channel, r.trigger, r.sends) for r in rows] == [("app_push", "scheduled", 2), ("sms", "cart_idle", 1)]
    push, sms = rows
    assert (push.delivered, push.opens, push.clicks, push.conversions, push.purchases, push.revenue) == (
        1, 1, 1, 1, 2, 25.0,
    )  # fmt: skip
    assert (push.feedback_count, push.feedback_mean_score) == (2, 2.0)
    assert push.rates() == {
        "delivery_rate": 0.5,
        "open_rate": 0.5,
        "click_rate": 0.5,
        "conversion_rate": 0.5,
        "revenue_per_send": 12.5,
        "unsubscribe_rate": 0.0,
    }
    assert (sms.clicks, sms.stage, sms.experiment, sms.arm) == (1, "", "", "")


def test_totals_filters_and_the_experiment_arm_slice(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("k1", user="a", campaign_id="c-1", experiment="copy-test", arm="b"))
    db.book(record("k2", user="b", campaign_id="c-2"))
    (total,) = db.log.outcomes(OutcomeQuery(*RANGE))
    assert total.sends == 2
    (only,) = db.log.outcomes(OutcomeQuery(*RANGE, group_by=("experiment_arm",), experiment="copy-test"))
    assert (only.experiment, only.arm, only.sends) == ("copy-test", "b", 1)
    by_campaign = db.log.outcomes(OutcomeQuery(*RANGE, group_by=("campaign",), campaign_id="c-2"))
    assert [(r.campaign_id, r.sends) for r in by_campaign] == [("c-2", 1)]
    every = db.log.outcomes(OutcomeQuery(*RANGE, group_by=OUTCOME_DIMENSIONS))
    assert sum(r.sends for r in every) == 2 and {r.locale for r in every} == {"en-US"}


def test_no_sends_give_one_row_of_zeros_and_no_slices(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    (total,) = db.log.outcomes(OutcomeQuery(*RANGE))
    assert (total.sends, total.opens, total.revenue, total.feedback_mean_score) == (0, 0, 0.0, 0.0)
    assert set(total.rates().values()) == {0.0}
    assert db.log.outcomes(OutcomeQuery(*RANGE, group_by=("stage",))) == []


def test_a_send_is_stored_with_every_fact_on_both_backends(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("k1", campaign_id="c-1"))
    row = db.log.send("k1")
    assert row is not None
    assert {k: row[k] for k in ("user_id", "channel", "send_trigger", "tier", "writer", "campaign_id", "arm")} == {
        "user_id": "u1",
        "channel": "app_push",
        "send_trigger": "scheduled",
        "tier": "high",
        "writer": "template",
        "campaign_id": "c-1",
        "arm": "",
    }
    assert (row["planned_at"], row["booked_at"]) == ((T0 + H).timestamp(), T0.timestamp())
    assert row["model_versions"] == '{"recs": "r1"}'


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"since": T0, "until": T0}, "since"),
        ({"since": T0 + H, "until": T0}, "since"),
        ({"since": T0, "until": T0 + H, "group_by": ("stage", "colour")}, "group_by[1]"),
        ({"since": datetime(2024, 1, 1), "until": T0}, "since"),
    ],
)
def test_bad_queries_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        OutcomeQuery(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and field.split("[")[0] in str(info.value)
