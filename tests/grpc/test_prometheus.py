"""Prometheus metrics on the HTTP port: serving counters and latency histograms, the engine's
GetMetrics figures as gauges, events received per type; several processes summed in one scrape;
a busy metrics port is one line and exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client.parser import text_string_to_metric_families

from recsvc.server.app import RecsvcServer, build_server
from recsvc.server.run import wait_serving
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from tests.grpc.conftest import Trained, closed_port
from tests.server_process import stop_server

REPO = Path(__file__).resolve().parents[2]
SERVE = (sys.executable, "-m", "recsvc.cli", "serve")


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def requests_total(samples: dict, method: str, code: str) -> float:
    return samples.get(("recsvc_grpc_requests_total", (("code", code), ("method", method))), 0.0)


@pytest.fixture(scope="module")
def metered(trained: Trained) -> Iterator[RecsvcServer]:
    settings = trained.settings.with_overrides(server={"metrics_port": closed_port()})
    srv = build_server(settings)
    srv.start(load_models=False)
    srv.load_models_now()
    yield srv
    srv.stop(0)


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


def test_scrape_counts_calls_codes_latency_engine_gauges_and_events(metered: RecsvcServer) -> None:
    assert metered.metrics_http is not None
    port = metered.metrics_http.port
    user = metered.engine.store.most_active_users(event_type="purchase", limit=1)[0]
    before = scrape(port)
    with grpc.insecure_channel(f"127.0.0.1:{metered.port}") as ch:
        stub = pb_grpc.PushRecommenderStub(ch)
        assert stub.Recommend(pb.RecommendRequest(user_id=user, max_candidates=2), timeout=30).candidates
        with pytest.raises(grpc.RpcError) as bad:
            stub.Recommend(pb.RecommendRequest(user_id="", max_candidates=2), timeout=30)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        events = [
            pb.Event(event_id=f"prom-{i}", user_id=user, ts=_now(), event_type=pb.EVENT_TYPE_VIEW) for i in range(3)
        ]
        events.append(pb.Event(event_id="prom-open", user_id=user, ts=_now(), event_type=pb.EVENT_TYPE_APP_OPEN))
        events.append(pb.Event(event_id="prom-bad", user_id=user, ts=_now(), event_type=77))  # rejected: not counted
        r = stub.ReportEvents(pb.ReportEventsRequest(events=events), timeout=30)
        assert (r.accepted, r.rejected) == (4, 1)
        values = stub.GetMetrics(pb.GetMetricsRequest(), timeout=30).values
    after = scrape(port)

    def grew(key: tuple[str, tuple[tuple[str, str], ...]]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert requests_total(after, "Recommend", "OK") - requests_total(before, "Recommend", "OK") == 1
    assert (
        requests_total(after, "Recommend", "INVALID_ARGUMENT") - requests_total(before, "Recommend", "INVALID_ARGUMENT")
        == 1
    )
    assert requests_total(after, "ReportEvents", "OK") >= 1
    count = ("recsvc_grpc_request_duration_seconds_count", (("method", "Recommend"),))
    assert grew(count) == 2
    inf = ("recsvc_grpc_request_duration_seconds_bucket", (("le", "+Inf"), ("method", "Recommend")))
    assert after[inf] == after[count]
    assert after[("recsvc_grpc_request_duration_seconds_sum", (("method", "Recommend"),))] > 0
    assert grew(("recsvc_events_received_total", (("type", "view"),))) == 3
    assert grew(("recsvc_events_received_total", (("type", "app_open"),))) == 1
    # GetMetrics figures, read at scrape time: the recommend calls, the store's events.
    assert after[("recsvc_engine_metrics_up", ())] == 1
    assert after[("recsvc_recommend_calls", ())] == values["recommend_calls"]
    assert after[("recsvc_events", ())] == values["events"]
    assert after[("recsvc_outcomes_sends_7d", ())] == values["outcomes.sends_7d"]
    assert any(name == "recsvc_model_version_info" for name, _ in after)


def test_busy_metrics_port_is_one_line_and_exit_2(trained: Trained, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        for processes in ("1", "2"):
            out = subprocess.run(
                [*SERVE, "--port", str(closed_port()), "--metrics-port", str(port), "--processes", processes],
                env=_env(trained),
                capture_output=True,
                text=True,
                timeout=120,
                cwd=REPO,
            )
            assert out.returncode == 2, out.stderr
            lines = [ln for ln in out.stderr.splitlines() if "error" in ln]
            assert len(lines) == 1 and "server.metrics_port" in lines[0] and str(port) in lines[0], out.stderr
            assert "Traceback" not in out.stderr


def _env(trained: Trained) -> dict[str, str]:
    s = trained.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSVC_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        RECSVC_PATHS_STORE=s.paths.store,
        RECSVC_PATHS_MODELS_DIR=s.paths.models_dir,
        RECSVC_COPY_BASE_URL=s.copy.base_url,
        RECSVC_COPY_TIMEOUT_S="0.5",
        RECSVC_COPY_MAX_RETRIES="0",
        RECSVC_ENGINE_RELOAD_INTERVAL_S="0",
        RECSVC_ENGINE_WARM_ON_LOAD="false",
    )
    return env


def test_two_processes_one_scrape_sums_both(trained: Trained) -> None:
    """``serve --processes 2``: calls spread over both processes (a connection each, SO_REUSEPORT);
    the one scrape counts all of them, while the engine gauges are the serving process's own."""
    port, metrics_port = closed_port(), closed_port()
    proc = subprocess.Popen(
        [*SERVE, "--processes", "2", "--port", str(port), "--metrics-port", str(metrics_port)],
        env=_env(trained),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    log: list[str] = []
    warmed = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if sum("warmed serving paths" in ln for ln in log) == 2:
                warmed.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        # Both processes past their warm-up (its loopback calls may land on either process).
        assert warmed.wait(300), "".join(log[-20:])
        assert wait_serving(f"127.0.0.1:{port}", timeout_s=60)
        before = scrape(metrics_port)
        calls = 16
        for _ in range(calls):
            # A channel of its own is a connection of its own: the kernel spreads them over the processes.
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                stub = pb_grpc.PushRecommenderStub(ch)
                stub.Recommend(pb.RecommendRequest(user_id="fresh-prom", max_candidates=1), timeout=30)
        after = scrape(metrics_port)
        summed = requests_total(after, "Recommend", "OK") - requests_total(before, "Recommend", "OK")
        assert summed == calls
        own = after[("recsvc_recommend_calls", ())] - before.get(("recsvc_recommend_calls", ()), 0.0)
        assert 0 < own < calls, f"all {calls} calls on one process ({own}): SO_REUSEPORT did not spread them"
    finally:
        stop_server(proc)
    assert not any("Traceback" in ln for ln in log), "".join(log)
