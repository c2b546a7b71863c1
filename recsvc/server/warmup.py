"""Warming every serving path before health says SERVING.

Why: a server that has just loaded its models still pays first-use costs on its first burst of
traffic: the gRPC worker threads start, and each opens its store connection, on their first calls;
gRPC, protobuf classes, timezone files, templates and regular expressions set themselves up on
first use; and the garbage collector's first full passes walk every object the models and caches
allocated. So before SERVING the server calls itself once per kind of request through a real
loopback channel, starts every worker thread, and moves what is loaded by then out of the
collector's reach (``gc.freeze``). Warm-up is best effort: a failed step is logged, never fatal.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc

from recsvc.engine.engine import Engine
from recsvc.server import responses
from recsvc.settings import Settings
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from recsvc.vocabulary import CHANNELS

logger = logging.getLogger(__name__)

WARMUP_USER = "recsvc-warmup-new-user"  # never has events: the cold-start path
_NO_ITEM = "recsvc-warmup-no-such-item"  # GenerateMessage's NOT_FOUND answer, without calling the LLM
_ANY_HOST = ("", "0.0.0.0", "::", "[::]")


def start_workers(executor: futures.ThreadPoolExecutor, n: int, engine: Engine, timeout_s: float = 10.0) -> int:
    """Start all ``n`` worker threads now (a pool starts them one per busy moment) and open each one's
    store connection. The tasks meet at a barrier, so each holds its own thread. Returns how many ran."""
    barrier = threading.Barrier(n)

    def task() -> None:
        # A worker busy serving breaks the barrier: the others are started anyway.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=timeout_s)
        engine.warm_thread()

    done, _ = futures.wait([executor.submit(task) for _ in range(n)], timeout=timeout_s * 2)
    return sum(1 for f in done if f.exception() is None)


def _target(settings: Settings, port: int) -> str:
    host = settings.server.host
    if host in _ANY_HOST:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _channel(settings: Settings, port: int) -> grpc.Channel:
    target = _target(settings, port)
    if not settings.server.tls_cert:
        return grpc.insecure_channel(target)
    creds = grpc.ssl_channel_credentials(root_certificates=Path(settings.server.tls_cert).read_bytes())
    return grpc.secure_channel(target, creds, options=[("grpc.ssl_target_name_override", "localhost")])


def loopback_calls(settings: Settings, port: int, user: str | None, rounds: int = 2) -> tuple[int, int]:
    """Each kind of request through the server itself (reads only: caps are not reserved, no events
    are written). Returns (calls answered, calls failed); NOT_FOUND on purpose counts as answered."""
    md = (("authorization", f"Bearer {settings.api_token}"),) if settings.api_token else ()
    known = user or WARMUP_USER
    n = settings.engine.default_candidates
    ok = failed = 0
    with _channel(settings, port) as ch:
        stub = pb_grpc.PushRecommenderStub(ch)
        calls = [
            lambda: stub.Recommend(pb.RecommendRequest(user_id=known, max_candidates=n), timeout=30, metadata=md),
            lambda: stub.Recommend(
                pb.RecommendRequest(user_id=known, max_candidates=n, write_copy=True), timeout=30, metadata=md
            ),
            lambda: stub.Recommend(pb.RecommendRequest(user_id=WARMUP_USER, max_candidates=n), timeout=30, metadata=md),
            lambda: list(
                stub.RecommendStream(
                    iter([pb.RecommendRequest(user_id=known, max_candidates=n)]), timeout=30, metadata=md
                )
            ),
            lambda: stub.GetUserProfile(pb.GetUserProfileRequest(user_id=known), timeout=30, metadata=md),
            lambda: stub.ScoreUsers(pb.ScoreUsersRequest(user_ids=[known, WARMUP_USER]), timeout=30, metadata=md),
            lambda: stub.GenerateMessage(
                pb.GenerateMessageRequest(user_id=known, item_id=_NO_ITEM, channel=pb.CHANNEL_APP_PUSH),
                timeout=30,
                metadata=md,
            ),
            lambda: stub.GetMetrics(pb.GetMetricsRequest(), timeout=30, metadata=md),
        ]
        for _ in range(rounds):
            for call in calls:
                try:
                    call()
                    ok += 1
                except grpc.RpcError as exc:
                    if exc.code() == grpc.StatusCode.NOT_FOUND:
                        ok += 1
                    else:
                        failed += 1
                        logger.info("warm-up call failed: %s %s", exc.code(), exc.details())
    return ok, failed


def template_paths(engine: Engine, user: str | None, item_id: str | None) -> int:
    """GenerateMessage's template path for every channel, through the protobuf conversion too."""
    if not user or not item_id:
        return 0
    for channel in CHANNELS:
        responses.message_pb(engine.template_message(user, item_id, channel))
    return len(CHANNELS)


def settle_gc() -> None:
    """Collect once, then freeze: what is alive after loading and warming (models, caches, modules)
    is moved out of the collector's generations, so later full collections stop walking it.

    Measured on the 5,000-user demo: without it, the first burst of traffic after start met the
    first full collection over the whole loaded heap (p99 of 300-440 ms at 300 requests/s against
    about 90 ms for the next burst, on a loaded 2-core machine). Frozen objects are never collected,
    so after a model swap call this again: it unfreezes first, and the previous set's cycles go.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def warm_paths(engine: Engine, settings: Settings, port: int, executor: futures.ThreadPoolExecutor) -> None:
    """Everything above, with one log line of what it did and how long it took."""
    t0 = time.monotonic()
    user = engine.sample_user()
    workers = calls = failed = templates = 0
    try:
        workers = start_workers(executor, settings.server.max_workers, engine)
        calls, failed = loopback_calls(settings, port, user)
        templates = template_paths(engine, user, engine.sample_item())
    except Exception:  # best effort: serving does not depend on it
        logger.warning("warm-up stopped early", exc_info=True)
    settle_gc()
    logger.info(
        "warmed serving paths in %.2fs: %d worker threads, %d loopback calls (%d failed), %d templates",
        time.monotonic() - t0,
        workers,
        calls,
        failed,
        templates,
    )
