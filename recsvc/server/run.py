"""Running the server as a process: one or several (sharing the port), plus the local LLM child.

Several processes follow gRPC's own multiprocessing example: each worker builds its own server
with ``SO_REUSEPORT`` on the same port, and the kernel spreads connections across them. Python's
GIL makes this the way to use more than one core.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recsvc.errors import FailedPrecondition, RecsvcError
from recsvc.settings import Settings

logger = logging.getLogger(__name__)


def _serve_one(settings: Settings, *, reuse_port: bool, show_sample: bool, serve_metrics: bool = True) -> None:
    from recsvc.server.app import build_server

    srv = build_server(settings, reuse_port=reuse_port, serve_metrics=serve_metrics)
    srv.install_signal_handlers()
    srv.start()
    if srv.metrics_http is not None:
        logger.info("Prometheus metrics at http://%s:%d/metrics", settings.server.host, srv.metrics_http.port)
    if show_sample:
        threading.Thread(target=_log_sample, args=(settings, srv.port), daemon=True).start()
    srv.wait()


def _worker(settings: Settings, show_sample: bool, serve_metrics: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    try:
        _serve_one(settings, reuse_port=True, show_sample=show_sample, serve_metrics=serve_metrics)
    except RecsvcError as exc:  # one line, like the CLI: a port taken since the parent checked it
        logger.error("%s", exc)
        sys.exit(2)


def wait_serving(target: str, timeout_s: float = 120.0, token: str = "", service: str = "") -> bool:
    """Poll the health service until ``service`` is SERVING or the timeout ("": the whole server, models
    loaded; ``COPY_LLM_SERVICE``: the local LLM)."""
    deadline = time.monotonic() + timeout_s
    md = [("authorization", f"Bearer {token}")] if token else []
    with grpc.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            try:
                r = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2, metadata=md)
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    return True
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    return False


def _log_sample(settings: Settings, port: int) -> None:
    """Once serving, log one real recommendation for a known user, so `make run` shows it works."""
    from recsvc.client import format_recommendation, recommend_once
    from recsvc.server.app import COPY_LLM_SERVICE
    from recsvc.store import open_store

    target = f"127.0.0.1:{port}"
    # SERVING comes after the warm-up of every known user's candidates: minutes for a large app.
    if not wait_serving(target, timeout_s=1800.0, token=settings.api_token):
        logger.warning("server did not become SERVING; no sample")
        return
    store = open_store(settings.paths.store, settings.postgres)
    try:
        buyers = store.most_active_users(event_type="purchase", limit=1)
    finally:
        store.close()
    user = buyers[0] if buyers else "new-user-1"
    try:
        result = recommend_once(target, user, max_candidates=3, token=settings.api_token, timeout_s=30)
        # A request waits only copy.copy_budget_ms for the LLM, which writes in the background and
        # caches; asking again once it has shows its copy, not only the first call's templates.
        llm_up = wait_serving(target, timeout_s=_LLM_HEALTH_WAIT_S, token=settings.api_token, service=COPY_LLM_SERVICE)
        deadline = time.monotonic() + (_SAMPLE_LLM_WAIT_S if llm_up else 0.0)
        while not _has_llm_copy(result) and time.monotonic() < deadline:
            time.sleep(5.0)
            result = recommend_once(target, user, max_candidates=3, token=settings.api_token, timeout_s=30)
        logger.info("sample recommendation:\n%s", format_recommendation(result))
        logger.info("try it yourself: .venv/bin/recsvc recommend --user %s", user)
    except Exception as exc:
        logger.warning("sample recommendation failed: %s", exc)


_SAMPLE_LLM_WAIT_S = 120.0
_LLM_HEALTH_WAIT_S = 5.0  # the server mirrors the local LLM's state into its health every second


def _has_llm_copy(result: dict[str, Any]) -> bool:
    return any(c.get("message", {}).get("writer") == "WRITER_LLM" for c in result.get("candidates", []))


def _start_local_llm(settings: Settings, stack: ExitStack) -> Settings:
    """Start the supervised local llama.cpp server; settings that point copy (in every process) at it.

    A server that cannot start or crashes leaves the service up with template copy; the supervisor
    retries with backoff and publishes its state to ``copy.local_status_file`` for health and metrics.
    """
    from recsvc.copy.supervisor import LLMSupervisor

    status_file = settings.copy.local_status_file or os.path.join(
        tempfile.gettempdir(), f"recsvc-llm-{os.getpid()}.json"
    )
    sup = stack.enter_context(LLMSupervisor(settings.copy, status_file=status_file))
    status = sup.status()
    if status.up:
        logger.info("local LLM serving at %s", sup.base_url)
    else:
        logger.warning("local LLM not serving (%s); copy comes from templates until it is", status.last_error[:200])
    return settings.with_overrides(copy={"base_url": sup.base_url, "local_status_file": status_file})


def serve(settings: Settings, *, local_llm: bool = False, show_sample: bool = False) -> int:
    """Serve until SIGTERM/SIGINT. Refuses to start without models, naming the command to build them."""
    from recsvc.engine.engine import Engine

    Engine.check_artifacts(settings)
    with ExitStack() as stack:
        if local_llm:
            settings = _start_local_llm(settings, stack)
        n = settings.server.processes
        if n == 1:
            _serve_one(settings, reuse_port=False, show_sample=show_sample)
            return 0
        if settings.server.port == 0:
            raise FailedPrecondition("server.processes > 1 needs a fixed port", field="server.port")
        if settings.server.metrics_port:
            _multiprocess_metrics(settings, stack)
        ctx = multiprocessing.get_context("spawn")
        # The first process serves the metrics port; every process counts into the shared folder.
        workers = [
            ctx.Process(target=_worker, args=(settings, show_sample and i == 0, i == 0), name=f"recsvc-{i}")
            for i in range(n)
        ]
        for w in workers:
            w.start()
        logger.info("%d server processes on port %d", n, settings.server.port)

        def stop(signum: int, frame: object) -> None:
            for w in workers:
                if w.is_alive() and w.pid:
                    os.kill(w.pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        return _join(workers)
    return 0


def _join(workers: Sequence[multiprocessing.process.BaseProcess]) -> int:
    """Wait for every worker; one that exits with 2 (bad settings, a port taken) stops the others, and
    ``serve`` exits with 2 too."""
    from multiprocessing.connection import wait

    alive = {w.sentinel: w for w in workers}
    code = 0
    while alive:
        for sentinel in wait(list(alive)):
            w = alive.pop(sentinel)  # type: ignore[arg-type, call-overload]
            w.join()
            if w.exitcode == 2 and code == 0:
                code = 2
                for other in alive.values():
                    if other.pid:
                        os.kill(other.pid, signal.SIGTERM)
    return code


def _multiprocess_metrics(settings: Settings, stack: ExitStack) -> None:
    """Check the metrics port is free (a busy one stops here, in one line), and give the workers a
    fresh ``PROMETHEUS_MULTIPROC_DIR`` (they inherit the environment), removed when serving ends."""
    from recsvc.server.prometheus import MULTIPROC_ENV, port_free

    port_free(settings.server.host, settings.server.metrics_port)
    folder = tempfile.mkdtemp(prefix="recsvc-prometheus-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = folder

    def cleanup() -> None:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)

    stack.callback(cleanup)
