"""ReportEvents, catalog and user upserts, profiles, scoring, copy, the assistant, metrics, auth."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.server.app import RecsvcServer, build_server
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


def test_report_events_rejects_bad_rows_keeps_good_ones_and_is_idempotent(
    stub: pb_grpc.PushRecommenderStub,
) -> None:
    events = [
        pb.Event(event_id="t-1", user_id="ingest-user", ts=_now(), event_type=pb.EVENT_TYPE_APP_OPEN),
        pb.Event(event_id="t-2", user_id="ingest-user", ts=_now(), event_type=77),
        pb.Event(event_id="t-3", user_id="ingest-user", ts=_now(), event_type=pb.EVENT_TYPE_VIEW, payload="{oops"),
        pb.Event(
            event_id="t-4", user_id="ingest-user", ts=Timestamp(seconds=253402300000), event_type=pb.EVENT_TYPE_VIEW
        ),
        pb.Event(event_id="t-5", user_id="ingest-user", ts=_now(), event_type=pb.EVENT_TYPE_VIEW),
    ]
    r = stub.ReportEvents(pb.ReportEventsRequest(events=events), timeout=30)
    assert (r.accepted, r.duplicate, r.rejected) == (2, 0, 3)
    by_index = {x.index: x for x in r.rejections}
    assert by_index[1].field == "event_type" and by_index[1].event_id == "t-2"
    assert by_index[2].field == "payload"
    assert by_index[3].field == "ts"
    again = stub.ReportEvents(pb.ReportEventsRequest(events=[events[0], events[4]]), timeout=30)
    assert (again.accepted, again.duplicate) == (0, 2)


def test_too_many_events_in_one_call_is_refused_whole(stub: pb_grpc.PushRecommenderStub) -> None:
    ev = pb.Event(user_id="bulk", ts=_now(), event_type=pb.EVENT_TYPE_VIEW)
    with pytest.raises(grpc.RpcError) as info:
        stub.ReportEvents(pb.ReportEventsRequest(events=[ev] * 100_000), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "events" in info.value.details() and "limit" in info.value.details()


def test_unsubscribe_is_honoured_on_the_next_call(stub: pb_grpc.PushRecommenderStub, own_user: str) -> None:
    stub.ReportEvents(
        pb.ReportEventsRequest(
            events=[
                pb.Event(
                    user_id=own_user, ts=_now(), event_type=pb.EVENT_TYPE_UNSUBSCRIBE, channel=pb.CHANNEL_APP_PUSH
                ),
            ]
        ),
        timeout=30,
    )
    r = stub.Recommend(pb.RecommendRequest(user_id=own_user, max_candidates=2), timeout=30)
    assert r.candidates and all(c.channel != pb.CHANNEL_APP_PUSH for c in r.candidates)
    prof = stub.GetUserProfile(pb.GetUserProfileRequest(user_id=own_user), timeout=30)
    assert pb.CHANNEL_APP_PUSH in prof.unsubscribed


def test_upsert_items_makes_a_new_item_retrievable_at_once(stub: pb_grpc.PushRecommenderStub) -> None:
    item = pb.Item(
        item_id="new-sku-1",
        title="Ultralight carbon trekking poles",
        category="sports",
        price=399,
        currency="CNY",
        in_stock=True,
        image_url="https://cdn.example.com/img/new-sku-1.jpg",
    )
    r = stub.UpsertItems(pb.UpsertItemsRequest(items=[item]), timeout=60)
    assert (r.upserted, r.indexed) == (1, 1)
    chunks = list(
        stub.AssistantReply(
            pb.AssistantReplyRequest(
                user_id="hiker",
                conversation=[pb.ChatTurn(role="user", text="carbon trekking poles for hiking")],
                max_items=5,
            ),
            timeout=60,
        )
    )
    ids = [c.item.item_id for c in chunks[0].items]
    assert "new-sku-1" in ids


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        (pb.Item(item_id="", title="x"), "item_id"),
        (pb.Item(item_id="a", title=""), "title"),
        (pb.Item(item_id="a", title="t", price=-1), "price"),
    ],
)
def test_bad_items(stub: pb_grpc.PushRecommenderStub, item: pb.Item, needle: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.UpsertItems(pb.UpsertItemsRequest(items=[item]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and needle in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        stub.UpsertItems(
            pb.UpsertItemsRequest(items=[pb.Item(item_id="d", title="a"), pb.Item(item_id="d", title="b")]), timeout=10
        )
    assert "twice" in info.value.details()


def test_upsert_users_validates_timezone_and_quiet_hours(stub: pb_grpc.PushRecommenderStub) -> None:
    ok = stub.UpsertUsers(
        pb.UpsertUsersRequest(
            users=[pb.User(user_id="tz-user", timezone="America/New_York", quiet_hours="23-7", push_opt_in=True)]
        ),
        timeout=10,
    )
    assert ok.upserted == 1
    for user, needle in (
        (pb.User(user_id="x", timezone="Mars/Olympus"), "timezone"),
        (pb.User(user_id="x", quiet_hours="25-3"), "quiet_hours"),
    ):
        with pytest.raises(grpc.RpcError) as info:
            stub.UpsertUsers(pb.UpsertUsersRequest(users=[user]), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and needle in info.value.details()


def test_profile_score_users_metrics(stub: pb_grpc.PushRecommenderStub, known_user: str) -> None:
    prof = stub.GetUserProfile(pb.GetUserProfileRequest(user_id=known_user), timeout=30)
    assert prof.known and prof.event_count > 0 and prof.recent_item_ids
    scores = stub.ScoreUsers(pb.ScoreUsersRequest(user_ids=[known_user, "nobody-here"]), timeout=30)
    assert [s.user_id for s in scores.scores] == [known_user, "nobody-here"]
    assert scores.scores[0].known and not scores.scores[1].known
    m = stub.GetMetrics(pb.GetMetricsRequest(), timeout=10)
    assert m.values["recommend_calls"] >= 1 and m.values["events"] > 0


def test_generate_message(stub: pb_grpc.PushRecommenderStub, known_user: str, server: RecsvcServer) -> None:
    item_id = server.engine.store.items_frame()["item_id"].iloc[0]
    r = stub.GenerateMessage(
        pb.GenerateMessageRequest(user_id=known_user, item_id=item_id, channel=pb.CHANNEL_SMS), timeout=30
    )
    assert r.message.body and r.message.writer == pb.WRITER_TEMPLATE
    with pytest.raises(grpc.RpcError) as info:
        stub.GenerateMessage(pb.GenerateMessageRequest(user_id=known_user, item_id="no-such-item"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and "item_id" in info.value.details()


def test_assistant_reply_streams_grounded_text_with_items(stub: pb_grpc.PushRecommenderStub, known_user: str) -> None:
    chunks = list(
        stub.AssistantReply(
            pb.AssistantReplyRequest(
                user_id=known_user,
                conversation=[pb.ChatTurn(role="user", text="any snacks for the weekend?")],
                max_items=3,
            ),
            timeout=60,
        )
    )
    assert chunks[0].items and chunks[-1].done
    text = "".join(c.text for c in chunks)
    assert any(c.item.title in text for c in chunks[0].items)


def test_api_token(trained: object) -> None:
    from recsvc.server.app import build_server

    settings = trained.settings.with_overrides(api_token="s3cret")  # type: ignore[attr-defined]
    srv = build_server(settings)
    srv.start(load_models=False)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            stub = pb_grpc.PushRecommenderStub(ch)
            for md in ((), (("authorization", "Bearer wrong"),)):
                with pytest.raises(grpc.RpcError) as info:
                    stub.GetMetrics(pb.GetMetricsRequest(), timeout=5, metadata=md)
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            ok = stub.GetMetrics(pb.GetMetricsRequest(), timeout=5, metadata=(("authorization", "Bearer s3cret"),))
            assert "events" in ok.values
    finally:
        srv.stop(0)


def test_serve_without_models_is_a_one_line_error(tmp_path: Path) -> None:
    env = {
        "RECSVC_PATHS_MODELS_DIR": str(tmp_path / "models"),
        "RECSVC_PATHS_STORE": str(tmp_path / "db.sqlite"),
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-m", "recsvc.cli", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stderr
    assert str(tmp_path / "models") in lines[0] and "recsvc train" in lines[0]
    assert "Traceback" not in out.stderr


def test_recommend_cli_json(server: RecsvcServer, known_user: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "recsvc.cli",
            "recommend",
            "--user",
            known_user,
            "--target",
            f"127.0.0.1:{server.port}",
            "--json",
            "-n",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["candidates"]) == 3
    text = subprocess.run(
        [sys.executable, "-m", "recsvc.cli", "recommend", "--user", known_user, "--target", f"127.0.0.1:{server.port}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "stage:" in text.stdout and "churn risk" in text.stdout and "copy (template" in text.stdout


def test_copy_warm_batch_job_runs_over_top_items(trained: object) -> None:
    """`recsvc copy warm` walks top items x stage x channel x locale; with the LLM down nothing is cached."""
    from recsvc.training import warm_copy

    stats = warm_copy(trained.settings, top_items=2, progress=False)  # type: ignore[attr-defined]
    assert stats["requests"] == 2 * 5 * 3 * 2
    assert stats["written"] == 0 and stats["errors"] + stats["guardrail_failed"] >= 1


def test_an_item_upserted_in_one_process_is_retrievable_in_another(
    stub: pb_grpc.PushRecommenderStub, trained: Any
) -> None:
    """Each process has its own FAISS index; UpsertItems taken by one reaches the others via the store."""
    other = build_server(trained.settings.with_overrides(engine={"item_sync_s": 0.0, "warm_on_load": False}))
    other.start(load_models=False)
    other.load_models_now()
    try:
        item = pb.Item(
            item_id="cross-proc-sku",
            title="Titanium camping spork with carry case",
            category="outdoor",
            price=12.0,
            currency="CNY",
            in_stock=True,
        )
        assert stub.UpsertItems(pb.UpsertItemsRequest(items=[item]), timeout=60).indexed == 1
        with grpc.insecure_channel(f"127.0.0.1:{other.port}") as ch:
            other_stub = pb_grpc.PushRecommenderStub(ch)
            chunks = list(
                other_stub.AssistantReply(
                    pb.AssistantReplyRequest(
                        user_id="camper",
                        conversation=[pb.ChatTurn(role="user", text="a titanium spork for camping")],
                        max_items=5,
                    ),
                    timeout=60,
                )
            )
        assert "cross-proc-sku" in [c.item.item_id for c in chunks[0].items]
        assert other.engine.sync_items(force=True) == 0  # already indexed: nothing new
    finally:
        other.stop(0)
