"""GetOutcomes requests -> OutcomeQuery (defaults, enums, named errors) and rows -> OutcomeRow messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.errors import InvalidArgument
from recsvc.outcomes import OutcomeRow
from recsvc.server import convert
from recsvc.server.outcomes import outcome_query, outcome_row_pb
from recsvc.settings import load_settings
from recsvc.v1 import recsvc_pb2 as pb

SETTINGS = load_settings(env={})
NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def test_defaults_are_the_last_seven_days_and_dimensions_are_words_once() -> None:
    req = pb.GetOutcomesRequest(
        group_by=[pb.OUTCOME_DIMENSION_CHANNEL, pb.OUTCOME_DIMENSION_EXPERIMENT_ARM, pb.OUTCOME_DIMENSION_CHANNEL],
        campaign_id=" spring ",
    )
    q = outcome_query(req, SETTINGS, now=NOW)
    assert (q.since, q.until) == (NOW - timedelta(days=7), NOW)
    assert q.group_by == ("channel", "experiment_arm") and q.campaign_id == "spring" and q.experiment == ""


@pytest.mark.parametrize(
    ("req", "field"),
    [
        (pb.GetOutcomesRequest(group_by=[pb.OUTCOME_DIMENSION_UNSPECIFIED]), "group_by[0]"),
        (pb.GetOutcomesRequest(group_by=[pb.OUTCOME_DIMENSION_TIER, 99]), "group_by[1]"),
        (pb.GetOutcomesRequest(since=Timestamp(seconds=int(NOW.timestamp()) + 60)), "since"),
        (pb.GetOutcomesRequest(experiment_id="e\x00"), "experiment_id"),
    ],
)
def test_bad_requests_name_the_field(req: pb.GetOutcomesRequest, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        outcome_query(req, SETTINGS, now=NOW)
    assert info.value.field == field


def test_rows_carry_enums_and_rates() -> None:
    row = OutcomeRow(
        sends=4, delivered=4, opens=2, clicks=1, conversions=1, purchases=2, revenue=30.0, unsubscribes=0,
        dismissals=1, feedback_count=2, scored=1, score_sum=5.0, channel="sms", trigger="cart_idle", tier="low",
        stage="loyal", writer="llm",
    )  # fmt: skip
    m = outcome_row_pb(row)
    assert (m.channel, m.trigger, m.tier, m.stage, m.writer) == (
        pb.CHANNEL_SMS, pb.TRIGGER_CART_IDLE, pb.ENGAGEMENT_TIER_LOW, pb.LIFECYCLE_STAGE_LOYAL, pb.WRITER_LLM,
    )  # fmt: skip
    assert (m.open_rate, m.click_rate, m.revenue_per_send, m.feedback_mean_score) == (0.5, 0.25, 7.5, 5.0)


def test_a_malformed_feedback_payload_rejects_its_row_only_and_dedupe_keys_pass_through() -> None:
    ts = Timestamp(seconds=int(datetime.now(UTC).timestamp()))
    events = [
        pb.Event(user_id="u", ts=ts, event_type=pb.EVENT_TYPE_FEEDBACK, payload='{"rating": 0}'),
        pb.Event(
            user_id="u", ts=ts, event_type=pb.EVENT_TYPE_FEEDBACK, payload='{"rating": 4, "reasons": ["bad_time"]}'
        ),
        pb.Event(user_id="u", ts=ts, event_type=pb.EVENT_TYPE_PUSH_OPENED, dedupe_key="k-1"),
        pb.Event(user_id="u", ts=ts, event_type=pb.EVENT_TYPE_VIEW, payload="[1]"),
    ]
    rows = convert.event_rows(events, SETTINGS)
    assert rows[0][0] is None and rows[0][1] == "payload.rating"
    assert [r is not None for r, _, _ in rows[1:]] == [True, True, True]
    assert rows[2][0] is not None and rows[2][0]["dedupe_key"] == "k-1"
