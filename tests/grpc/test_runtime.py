"""The engine under load: bulk scoring next to per-user calls, the score a refresh computes, model-set
snapshots, shutdown with calls in flight, and warm-up before SERVING."""

from __future__ import annotations

import dataclasses
import gc
import logging
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import grpc
import pandas as pd
import pytest

from recsvc.engine.engine import Engine
from recsvc.engine.types import LifecycleView, RecommendQuery
from recsvc.engine.user_state import UserEntry
from recsvc.server.app import RecsvcServer, build_server
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc

_TYPES = ("app_open", "view", "view", "add_to_cart", "purchase", "push_delivered", "push_opened", "search")


def _add_user(engine: Engine, user_id: str, n_old: int, n_recent: int, seed: int) -> None:
    """``n_old`` events 100-200 days ago and ``n_recent`` in the last 30 days (items from the catalog)."""
    rng = random.Random(seed)
    items = engine.store.items_frame()["item_id"].tolist()[:40]
    now = datetime.now(UTC).timestamp()
    stamps = [now - rng.uniform(100, 200) * 86400 for _ in range(n_old)]
    stamps += [now - rng.uniform(0.01, 30) * 86400 for _ in range(n_recent)]
    rows = []
    for i, ts in enumerate(sorted(stamps)):
        etype = rng.choice(_TYPES)
        rows.append(
            {
                "event_id": f"{user_id}-{i}",
                "user_id": user_id,
                "ts": ts,
                "event_type": etype,
                "item_id": rng.choice(items) if etype in ("view", "add_to_cart", "purchase") else None,
                "value": round(rng.uniform(5, 80), 2) if etype == "purchase" else None,
                "channel": "app_push" if etype.startswith("push_") else None,
                "ts_offset_min": 480,
            }
        )
    engine.store.add_events(rows)


def _assert_same(a: LifecycleView, b: LifecycleView) -> None:
    assert (a.current_stage, a.predicted_stage, a.horizon_days) == (b.current_stage, b.predicted_stage, b.horizon_days)
    assert a.churn_risk == pytest.approx(b.churn_risk, abs=1e-9)
    assert a.stage_probs.keys() == b.stage_probs.keys()
    for stage, p in a.stage_probs.items():
        assert p == pytest.approx(b.stage_probs[stage], abs=1e-9)
    assert [r.feature for r in a.churn_reasons] == [r.feature for r in b.churn_reasons]
    for ra, rb in zip(a.churn_reasons, b.churn_reasons, strict=True):
        assert ra.contribution == pytest.approx(rb.contribution, abs=1e-9)


def test_score_users_batch_equals_the_per_user_refresh(server: RecsvcServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same users, same model, same cut-off: the chunked batch path and the refresh a request does
    give the same scores and tiers, for small histories and for ones longer than a request reads."""
    engine = server.engine
    users = [f"eq-user-{i}" for i in range(9)]
    sizes = [(0, 3), (5, 20), (0, 60), (40, 120), (150, 260), (250, 150), (100, 400), (0, 1), (300, 300)]
    for i, (u, (old, recent)) in enumerate(zip(users, sizes, strict=True)):
        _add_user(engine, u, old, recent, seed=i)
    as_of = datetime.now(UTC)
    # Small chunks, with unknown ids in between, so users land in different chunks than alone.
    monkeypatch.setattr(
        engine, "settings", engine.settings.with_overrides(engine={"score_chunk_users": 4, "candidate_cache_s": 0})
    )
    ids = [x for u in users for x in (u, f"{u}-nobody")]
    batch, _ = engine.score_users(ids, as_of)
    by_id = {s.user_id: s for s in batch}
    for u in users:
        assert by_id[u].known and not by_id[f"{u}-nobody"].known
        one = engine.recommend(RecommendQuery(user_id=u, now=as_of, write_copy=False))
        _assert_same(one.lifecycle, by_id[u].lifecycle)
        assert one.tier == by_id[u].tier


def test_a_refreshed_score_reads_all_events_and_the_profile_counts_them(
    server: RecsvcServer, stub: pb_grpc.PushRecommenderStub
) -> None:
    engine = server.engine
    user = "skew-500-events"
    _add_user(engine, user, n_old=200, n_recent=300, seed=500)
    as_of = datetime.now(UTC)
    refreshed = engine.recommend(RecommendQuery(user_id=user, now=as_of, write_copy=False)).lifecycle
    (batch,), _ = engine.score_users([user], as_of)
    _assert_same(refreshed, batch.lifecycle)
    profile = stub.GetUserProfile(pb.GetUserProfileRequest(user_id=user), timeout=30)
    assert profile.event_count == 500


def test_score_users_of_many_ids_while_recommend_calls_run(
    server: RecsvcServer, stub: pb_grpc.PushRecommenderStub
) -> None:
    known = sorted(engine_users := set(server.engine.store.history_signatures()))[:300]
    assert engine_users
    ids = known + [f"bulk-nobody-{i}" for i in range(10_000 - len(known))]
    stop = threading.Event()
    failures: list[str] = []
    answered = [0] * 4

    def loop(k: int) -> None:
        rng = random.Random(k)
        while not stop.is_set():
            try:
                stub.Recommend(pb.RecommendRequest(user_id=rng.choice(known), max_candidates=3), timeout=60)
                answered[k] += 1
            except grpc.RpcError as exc:
                failures.append(f"{exc.code()}: {exc.details()}")

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(len(answered))]
    for t in threads:
        t.start()
    try:
        out = stub.ScoreUsers(pb.ScoreUsersRequest(user_ids=ids), timeout=600)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert [s.user_id for s in out.scores] == ids
    assert all(s.known for s in out.scores[: len(known)]) and not any(s.known for s in out.scores[len(known) :])
    assert failures == [] and all(n > 0 for n in answered)


class _SkewedLifecycle:
    """A lifecycle model that answers one fixed churn risk: stands for the previous model set."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.horizon_days = inner.horizon_days

    def features(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return self._inner.features(*args, **kwargs)

    def score(self, features: pd.DataFrame, *, reasons: bool = True) -> list[Any]:
        scores = self._inner.score(features, reasons=reasons)
        return [dataclasses.replace(s, churn_risk=0.123456) for s in scores]


def test_a_score_from_the_previous_model_set_is_never_served_by_the_new_one(server: RecsvcServer) -> None:
    engine = server.engine
    user = "swap-race-user"
    _add_user(engine, user, 0, 30, seed=9)
    current = engine.models
    previous = dataclasses.replace(current, lifecycle=_SkewedLifecycle(current.lifecycle))  # type: ignore[arg-type]
    sig = engine.store.history_signature(user)
    now = datetime.now(UTC)
    # A request that took its snapshot before the swap finishes after it: it answers with its own set...
    old_view, old_tier = engine._states.get(user, now, sig, previous)
    assert old_view.churn_risk == pytest.approx(0.123456)
    # ...and what it computed is not what later requests, on the new set, get.
    fresh = engine.recommend(RecommendQuery(user_id=user, now=now, write_copy=False))
    assert fresh.lifecycle.churn_risk != pytest.approx(0.123456)
    assert fresh.versions["lifecycle"] == current.versions["lifecycle"]
    # An entry tagged with another set is ignored even when it is in the cache.
    with engine._states._lock:
        engine._states._entries[user] = UserEntry(old_view, old_tier, sig, previous)
    again = engine.recommend(RecommendQuery(user_id=user, now=now, write_copy=False))
    assert again.lifecycle.churn_risk == pytest.approx(fresh.lifecycle.churn_risk, abs=1e-12)


def test_stop_under_load_waits_for_running_handlers_before_closing(
    trained: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handlers still running when the grace ends finish on an open engine; later calls are refused
    with UNAVAILABLE (or were cancelled), never INTERNAL, and nothing logs a traceback."""
    srv = build_server(trained.settings.with_overrides(engine={"warm_on_load": False}))
    srv.start(load_models=False)
    srv.load_models_now()
    users = sorted(srv.engine.store.history_signatures())[:20]
    real = srv.engine.recommend
    started = threading.Event()

    def slow_recommend(q: RecommendQuery, **kw: Any) -> Any:
        started.set()
        time.sleep(0.3)  # still running when the grace below has long passed
        return real(q, **kw)

    monkeypatch.setattr(srv.engine, "recommend", slow_recommend)
    codes: list[grpc.StatusCode] = []
    lock = threading.Lock()
    stop = threading.Event()

    def loop(k: int) -> None:
        rng = random.Random(k)
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            stub = pb_grpc.PushRecommenderStub(ch)
            while not stop.is_set():
                try:
                    stub.Recommend(pb.RecommendRequest(user_id=rng.choice(users), max_candidates=3), timeout=10)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    code = exc.code()
                with lock:
                    codes.append(code)
                if code != grpc.StatusCode.OK:
                    time.sleep(0.01)

    caplog.set_level(logging.INFO)
    threads = [threading.Thread(target=loop, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    assert started.wait(30)
    time.sleep(0.1)
    srv.stop(grace=0.05)
    time.sleep(0.2)  # calls made after the stop
    stop.set()
    for t in threads:
        t.join()
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
    allowed = {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    assert set(codes) <= allowed, set(codes) - allowed
    assert grpc.StatusCode.CANCELLED in codes or grpc.StatusCode.UNAVAILABLE in codes


def test_every_serving_path_is_warm_before_serving(trained: Any) -> None:
    """Before health says SERVING, the server has called itself, started every worker thread and
    frozen what it loaded out of the collector's reach."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    gc.unfreeze()
    srv = build_server(trained.settings.with_overrides(engine={"warm_on_load": False}))
    srv.start(load_models=False)
    seen_serving_before_warm: list[bool] = []
    real = srv._set_serving

    def check_then_set(serving: bool) -> None:
        if serving:
            values, _ = srv.engine.metrics()
            seen_serving_before_warm.append(values.get("recommend_calls", 0) == 0)
        real(serving)

    srv._set_serving = check_then_set  # type: ignore[method-assign]
    try:
        srv.load_models_now()
        assert seen_serving_before_warm == [False]
        values, _ = srv.engine.metrics()
        assert values["recommend_calls"] >= 2  # with and without copy, through gRPC
        assert len(srv.executor._threads) == trained.settings.server.max_workers
        assert gc.get_freeze_count() > 0
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    finally:
        srv.stop(0)
