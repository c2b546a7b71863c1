"""Outcomes end to end through the real server: a booked Recommend, its events by dedupe key, and
GetOutcomes / GetMetrics counting each of them once; bad queries and bad feedback named."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pandas as pd
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.cli import main
from recsvc.server.app import RecsvcServer
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from tests.grpc.conftest import Trained, clone_user


def _ts(dt: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(dt)
    return t


def _book(stub: pb_grpc.PushRecommenderStub, user: str, campaign: str, now: datetime) -> pb.Candidate:
    """Opt ``user`` in to app push, then Recommend with reserve=true; returns the booked candidate."""
    stub.UpsertUsers(pb.UpsertUsersRequest(users=[pb.User(user_id=user, push_opt_in=True)]), timeout=30)
    ctx = pb.RequestContext(trigger=pb.TRIGGER_APP_OPEN, now=_ts(now), campaign_id=campaign)
    req = pb.RecommendRequest(
        user_id=user,
        context=ctx,
        max_candidates=3,
        write_copy=False,
        reserve=True,
        allowed_channels=[pb.CHANNEL_APP_PUSH],
    )
    r = stub.Recommend(req, timeout=60)
    assert r.candidates and not r.HasField("suppression"), r.suppression
    return r.candidates[0]


def _event(user: str, kind: pb.EventType, at: datetime, key: str, **kw: object) -> pb.Event:
    return pb.Event(
        event_id=f"{user}-{uuid.uuid4().hex[:8]}", user_id=user, ts=_ts(at), event_type=kind, dedupe_key=key, **kw
    )


def test_a_booked_send_and_its_events_are_counted_once(stub: pb_grpc.PushRecommenderStub, own_user: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    campaign = f"outcomes-{uuid.uuid4().hex[:8]}"
    booked = _book(stub, own_user, campaign, now)
    key = booked.dedupe_key
    at = now + timedelta(minutes=5)
    events = [
        _event(own_user, pb.EVENT_TYPE_PUSH_DELIVERED, at, key),
        _event(own_user, pb.EVENT_TYPE_PUSH_OPENED, at + timedelta(minutes=1), key),
        _event(own_user, pb.EVENT_TYPE_PUSH_OPENED, at + timedelta(minutes=2), key),  # the same send opened again
        _event(own_user, pb.EVENT_TYPE_FEEDBACK, at, key, payload='{"rating": 11}'),  # malformed: this row alone
        _event(own_user, pb.EVENT_TYPE_PUSH_CLICKED, at + timedelta(minutes=2), key),
        _event(own_user, pb.EVENT_TYPE_PURCHASE, at + timedelta(minutes=9), key, item_id="i-1", value=25.0),
    ]
    r = stub.ReportEvents(pb.ReportEventsRequest(events=events), timeout=60)
    assert (r.accepted, r.duplicate, r.rejected) == (5, 0, 1)
    assert (r.rejections[0].index, r.rejections[0].field) == (3, "payload.rating")
    assert "rating" in r.rejections[0].reason
    again = stub.ReportEvents(pb.ReportEventsRequest(events=[events[1]]), timeout=60)  # a retried delivery
    assert again.duplicate == 1

    dims = [pb.OUTCOME_DIMENSION_CHANNEL, pb.OUTCOME_DIMENSION_TRIGGER, pb.OUTCOME_DIMENSION_EXPERIMENT_ARM]
    out = stub.GetOutcomes(
        pb.GetOutcomesRequest(
            since=_ts(now - timedelta(hours=1)),
            until=_ts(now + timedelta(hours=1)),
            group_by=dims,
            campaign_id=campaign,
        ),
        timeout=30,
    )
    assert len(out.rows) == 1
    row = out.rows[0]
    assert (row.channel, row.trigger, row.experiment_id, row.arm) == (pb.CHANNEL_APP_PUSH, pb.TRIGGER_APP_OPEN, "", "")
    counts = (row.sends, row.delivered, row.opens, row.clicks, row.conversions, row.purchases, row.revenue)
    assert counts == (1, 1, 1, 1, 1, 1, 25.0)
    assert (row.open_rate, row.click_rate, row.conversion_rate, row.revenue_per_send) == (1.0, 1.0, 1.0, 25.0)

    values = stub.GetMetrics(pb.GetMetricsRequest(), timeout=30).values
    assert values["outcomes.sends_7d"] >= 1 and values["outcomes.opens_7d"] >= 1 and values["events_attributed"] >= 5


@pytest.mark.parametrize(
    ("req", "field"),
    [
        (pb.GetOutcomesRequest(group_by=[pb.OUTCOME_DIMENSION_STAGE, pb.OUTCOME_DIMENSION_UNSPECIFIED]), "group_by[1]"),
        (pb.GetOutcomesRequest(group_by=[42]), "group_by[0]"),
        (
            pb.GetOutcomesRequest(since=Timestamp(seconds=1_700_000_000), until=Timestamp(seconds=1_600_000_000)),
            "since",
        ),
        (pb.GetOutcomesRequest(until=Timestamp(seconds=-5)), "until"),
        (pb.GetOutcomesRequest(campaign_id="x" * 500), "campaign_id"),
    ],
)
def test_bad_outcome_queries_are_invalid_argument_naming_the_field(
    stub: pb_grpc.PushRecommenderStub, req: pb.GetOutcomesRequest, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.GetOutcomes(req, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in info.value.details()


def test_a_reserved_batch_campaign_records_its_sends_with_the_campaign_id(
    stub: pb_grpc.PushRecommenderStub, server: RecsvcServer, trained: Trained, known_user: str, tmp_path: Path
) -> None:
    users = [clone_user(server, known_user, f"own-{uuid.uuid4().hex[:16]}") for _ in range(3)]
    (tmp_path / "users.txt").write_text("\n".join(users) + "\n", encoding="utf-8")
    s = trained.settings
    config = tmp_path / "recsvc.toml"
    config.write_text(
        f'[paths]\nstore = "{s.paths.store}"\nmodels_dir = "{s.paths.models_dir}"\n'
        f'[copy]\nbase_url = "{s.copy.base_url}"\ntimeout_s = 0.5\nmax_retries = 0\n',
        encoding="utf-8",
    )
    now = datetime.now(UTC).replace(microsecond=0)
    campaign = f"batch-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "campaign.parquet"
    argv = ["campaign", "--config", str(config), "-q", "--out", str(out), "--users", str(tmp_path / "users.txt")]
    argv += ["--as-of", now.isoformat(), "--reserve", "--campaign-id", campaign, "--trigger", "app_open"]
    assert main(argv) == 0
    rows = pd.read_parquet(out)
    booked = rows[(rows["rank"] == 1) & (rows["suppressed"] == "")]
    assert len(booked) >= 1
    query = pb.GetOutcomesRequest(
        since=_ts(now - timedelta(minutes=1)),
        until=_ts(now + timedelta(minutes=1)),
        group_by=[pb.OUTCOME_DIMENSION_CAMPAIGN, pb.OUTCOME_DIMENSION_TRIGGER],
        campaign_id=campaign,
    )
    (row,) = stub.GetOutcomes(query, timeout=30).rows
    assert (row.campaign_id, row.trigger, row.sends) == (campaign, pb.TRIGGER_APP_OPEN, len(booked))
