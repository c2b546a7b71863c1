"""Events joined to their sends, on SQLite and PostgreSQL: by dedupe key, by campaign, by user within
the window; late events left out; duplicates counted once; purchases to the last touch."""

from __future__ import annotations

from datetime import timedelta

from recsvc.outcomes import AttributionConfig, OutcomeQuery, attribute_events
from tests.unit.outcomes.conftest import T0, OutcomeDbFactory, event, record

H = timedelta(hours=1)


def _totals(db: object, **kw: object) -> object:
    return db.log.outcomes(OutcomeQuery(T0 - 30 * H, T0 + 30 * H, **kw))[0]  # type: ignore[attr-defined]


def test_an_event_with_a_dedupe_key_goes_to_that_send_not_the_latest(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("k1"))
    db.book(record("k2", booked=T0 + 2 * H))
    done = db.report(event("e1", "push_opened", T0 + 4 * H, dedupe_key="k1"))
    assert [(a.event_id, a.dedupe_key, a.method) for a in done] == [("e1", "k1", "dedupe_key")]
    assert db.log.send("k1")["opened_at"] == (T0 + 4 * H).timestamp()  # type: ignore[index]
    assert db.log.send("k2")["opened_at"] is None  # type: ignore[index]


def test_a_dedupe_key_of_another_user_or_an_unknown_one_attributes_nothing(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("k1"))
    assert db.report(event("e1", "push_opened", T0 + 2 * H, user="u2", dedupe_key="k1")) == []
    # an explicit key is not second-guessed: no fallback to the user's other sends
    assert db.report(event("e2", "push_opened", T0 + 2 * H, dedupe_key="nope")) == []
    assert _totals(db).opens == 0  # type: ignore[attr-defined]


def test_without_a_key_the_users_send_in_the_window_on_the_events_channel_gets_it(
    outcome_dbs: OutcomeDbFactory,
) -> None:
    db = outcome_dbs()
    db.book(record("push"))
    db.book(record("sms", channel="sms"))
    db.book(record("other-user", user="u2"))
    done = db.report(
        event("o1", "push_opened", T0 + 3 * H),
        event("c1", "sms_clicked", T0 + 3 * H),
        event("before-booking", "push_clicked", T0 - H),
    )
    assert sorted((a.event_id, a.dedupe_key, a.method) for a in done) == [
        ("c1", "sms", "window"),
        ("o1", "push", "window"),
    ]


def test_campaign_id_picks_the_users_send_of_that_campaign(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("spring", campaign_id="spring-sale"))
    db.book(record("later", booked=T0 + H))
    done = db.report(
        event("c1", "push_clicked", T0 + 3 * H, campaign_id="spring-sale"),
        event("c2", "push_clicked", T0 + 3 * H, campaign_id="no-such-campaign"),
    )
    assert [(a.event_id, a.dedupe_key, a.method) for a in done] == [("c1", "spring", "campaign")]


def test_late_events_are_not_attributed(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs(AttributionConfig(open_window_h=24, click_window_h=2, conversion_window_h=72))
    db.book(record("k1", planned_h=1))  # planned at T0 + 1h
    done = db.report(
        event("open-late", "push_opened", T0 + 26 * H),
        event("open-late-keyed", "push_opened", T0 + 26 * H, dedupe_key="k1"),
        event("click-late", "push_clicked", T0 + 4 * H, dedupe_key="k1"),
        event("buy-in-time", "purchase", T0 + 70 * H, value=12.5),
        event("open-in-time", "push_opened", T0 + 24 * H),
    )
    assert sorted(a.event_id for a in done) == ["buy-in-time", "open-in-time"]
    row = db.log.outcomes(OutcomeQuery(T0 - H, T0 + H))[0]
    assert (row.opens, row.clicks, row.conversions, row.revenue) == (1, 0, 1, 12.5)


def test_duplicate_events_and_a_second_open_count_once(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("k1"))
    first = event("o1", "push_opened", T0 + 3 * H, dedupe_key="k1")
    db.report(first, event("o2", "push_opened", T0 + 2 * H, dedupe_key="k1"))
    assert db.report(first) == []  # the same event id again: the store keeps it once
    row = _totals(db)
    assert (row.sends, row.opens) == (1, 1)  # type: ignore[attr-defined]
    assert db.log.send("k1")["opened_at"] == (T0 + 2 * H).timestamp()  # type: ignore[index]  # the first open


def test_attributing_stored_events_again_changes_nothing(outcome_dbs: OutcomeDbFactory) -> None:
    """A reconciliation pass (or a retried transaction) over events already attributed is a no-op."""
    db = outcome_dbs()
    db.book(record("k1"))
    rows = [
        event("b1", "purchase", T0 + 2 * H, value=10.0),
        event("f1", "feedback", T0 + 2 * H, payload='{"rating": 4}'),
    ]
    assert len(db.report(*rows)) == 2
    with db.store.tx() as cur:  # type: ignore[attr-defined]
        again = attribute_events(cur, rows, {}, db.log.config)
    assert again == []
    row = outcome_dbs().log.outcomes(OutcomeQuery(T0 - H, T0 + H))[0]  # another process sees it all
    assert (row.purchases, row.revenue, row.feedback_count, row.feedback_mean_score) == (1, 10.0, 1, 4.0)


def test_a_purchase_goes_to_the_last_touch_by_default_and_the_first_when_configured(
    outcome_dbs: OutcomeDbFactory,
) -> None:
    for model, winner in (("last_touch", "second"), ("first_touch", "first")):
        db = outcome_dbs(AttributionConfig(model=model))
        tag = model[:1]
        db.book(record(f"{tag}-first", user=model, planned_h=1))
        db.book(record(f"{tag}-second", user=model, booked=T0 + 3 * H, planned_h=1))
        db.book(record(f"{tag}-not-sent-yet", user=model, booked=T0 + 5 * H, planned_h=20))
        done = db.report(event(f"{tag}-buy", "purchase", T0 + 6 * H, user=model, value=30.0))
        assert [a.dedupe_key for a in done] == [f"{tag}-{winner}"], model
        sent = db.log.send(f"{tag}-{winner}")
        assert sent is not None and (sent["purchases"], sent["revenue"]) == (1, 30.0)


def test_unsubscribe_and_dismissal_count_for_the_send_and_still_opt_out(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("k1"))
    db.report(
        event("d1", "push_dismissed", T0 + 2 * H, dedupe_key="k1"),
        event("u1", "unsubscribe", T0 + 2 * H, channel="app_push"),
    )
    row = _totals(db)
    assert (row.dismissals, row.unsubscribes, row.rates()["unsubscribe_rate"]) == (1, 1, 1.0)  # type: ignore[attr-defined]
    assert db.ledger.unsubscribed_channels("u1") == {"app_push"}
