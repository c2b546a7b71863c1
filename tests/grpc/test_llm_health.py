"""The local LLM's state, as its supervisor publishes it, reaches health and GetMetrics of the server.

The supervisor itself runs the real llama.cpp server in tests/integration; here the published
status file is written directly, so every state can be shown to the server process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recsvc.copy.supervisor import LLMStatus
from recsvc.server.app import COPY_LLM_SERVICE, RecsvcServer, build_server
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc

from .conftest import Trained


def publish(path: Path, status: LLMStatus) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(status.to_json())
    tmp.replace(path)


@pytest.fixture()
def status_server(trained: Trained, tmp_path: Path) -> Iterator[tuple[grpc.Channel, Path]]:
    status_file = tmp_path / "llm.json"
    publish(status_file, LLMStatus(state="ready", pid=4242, since=time.time(), base_url="http://127.0.0.1:1/v1"))
    srv: RecsvcServer = build_server(trained.settings.with_overrides(copy={"local_status_file": str(status_file)}))
    srv.start(load_models=False)
    srv.load_models_now()
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
        yield ch, status_file
    srv.stop(0)


def llm_health(ch: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(ch)
    return int(stub.Check(health_pb2.HealthCheckRequest(service=COPY_LLM_SERVICE), timeout=5).status)


def wait_health(ch: grpc.Channel, want: int, timeout_s: float = 20.0) -> int:
    deadline = time.monotonic() + timeout_s
    got = -1
    while time.monotonic() < deadline:
        try:
            got = llm_health(ch)
        except grpc.RpcError:
            got = -1
        if got == want:
            break
        time.sleep(0.1)
    return got


def test_llm_state_in_health_and_metrics(status_server: tuple[grpc.Channel, Path]) -> None:
    ch, status_file = status_server
    stub = pb_grpc.PushRecommenderStub(ch)
    assert wait_health(ch, health_pb2.HealthCheckResponse.SERVING) == health_pb2.HealthCheckResponse.SERVING
    m = stub.GetMetrics(pb.GetMetricsRequest(), timeout=10)
    assert m.values["local_llm_up"] == 1.0 and m.details["local_llm.state"] == "ready"

    publish(
        status_file,
        LLMStatus(state="restarting", restarts=2, failures=1, last_exit="killed by SIGSEGV", since=time.time()),
    )
    got = wait_health(ch, health_pb2.HealthCheckResponse.NOT_SERVING)
    assert got == health_pb2.HealthCheckResponse.NOT_SERVING
    m = stub.GetMetrics(pb.GetMetricsRequest(), timeout=10)
    assert m.values["local_llm_up"] == 0.0 and m.values["local_llm_restarts"] == 2.0
    assert m.details["local_llm.state"] == "restarting"
    assert m.details["local_llm.last_exit"] == "killed by SIGSEGV"
    # The service itself keeps serving: copy falls back to templates.
    overall = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert overall.status == health_pb2.HealthCheckResponse.SERVING


def test_no_local_llm_no_llm_metrics(stub: pb_grpc.PushRecommenderStub) -> None:
    m = stub.GetMetrics(pb.GetMetricsRequest(), timeout=10)
    assert "local_llm_up" not in m.values and not any(k.startswith("local_llm.") for k in m.details)
