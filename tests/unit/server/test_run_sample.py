"""The `make run` sample waits for the LLM's copy only when the server's health says its LLM is up,
and stops once it has it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from recsvc.server.app import COPY_LLM_SERVICE
from recsvc.server.run import _has_llm_copy, wait_serving


@pytest.fixture()
def server_health() -> Iterator[tuple[str, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(0)


def test_the_llm_is_waited_for_only_when_its_health_says_serving(
    server_health: tuple[str, health.HealthServicer],
) -> None:
    target, servicer = server_health
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert not wait_serving(target, timeout_s=0.5, service=COPY_LLM_SERVICE)  # no local LLM: unknown service
    servicer.set(COPY_LLM_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
    assert not wait_serving(target, timeout_s=0.5, service=COPY_LLM_SERVICE)
    servicer.set(COPY_LLM_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    assert wait_serving(target, timeout_s=0.5, service=COPY_LLM_SERVICE)
    assert wait_serving(target, timeout_s=0.5)  # the whole server, as before


def test_llm_copy_is_recognised_by_its_writer() -> None:
    template = {"candidates": [{"message": {"writer": "WRITER_TEMPLATE"}}]}
    assert not _has_llm_copy(template) and not _has_llm_copy({"candidates": []})
    both = {"candidates": [{"message": {"writer": "WRITER_TEMPLATE"}}, {"message": {"writer": "WRITER_LLM"}}]}
    assert _has_llm_copy(both)
