"""The metrics interceptor on a bare gRPC server: the status each call ended with (returned, aborted,
raised, refused by the token check before the handler), unary and streaming, and the latency count."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from recsvc.server.app import TokenAuthInterceptor
from recsvc.server.prometheus import PrometheusInterceptor, ServingMetrics

SERVICE = "test.Svc"


def _unary(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"abort":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    if request == b"raise":
        raise RuntimeError("bug")
    return request


def _stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield b"1"
    if request == b"abort":
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "enough")
    yield b"2"


@pytest.fixture()
def served() -> Iterator[tuple[grpc.Channel, ServingMetrics]]:
    metrics = ServingMetrics.create()
    ident = {"request_deserializer": lambda b: b, "response_serializer": lambda b: b}
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(_unary, **ident),
            "Stream": grpc.unary_stream_rpc_method_handler(_stream, **ident),
        },
    )
    interceptors = [PrometheusInterceptor(metrics, SERVICE), TokenAuthInterceptor("t0ken")]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=interceptors)
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch, metrics
    server.stop(None)


def _value(metrics: ServingMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_each_call_counted_with_the_status_it_ended_with(served: tuple[grpc.Channel, Any]) -> None:
    ch, metrics = served
    echo = ch.unary_unary(f"/{SERVICE}/Echo", lambda b: b, lambda b: b)
    stream = ch.unary_stream(f"/{SERVICE}/Stream", lambda b: b, lambda b: b)
    auth = [("authorization", "Bearer t0ken")]
    assert echo(b"hi", metadata=auth, timeout=5) == b"hi"
    for request, code in ((b"abort", grpc.StatusCode.NOT_FOUND), (b"raise", grpc.StatusCode.UNKNOWN)):
        with pytest.raises(grpc.RpcError) as info:
            echo(request, metadata=auth, timeout=5)
        assert info.value.code() == code
    with pytest.raises(grpc.RpcError) as info:
        echo(b"hi", timeout=5)  # no token: refused before the handler runs
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert list(stream(b"ok", metadata=auth, timeout=5)) == [b"1", b"2"]
    with pytest.raises(grpc.RpcError):
        list(stream(b"abort", metadata=auth, timeout=5))

    total = "recsvc_grpc_requests_total"
    for code, n in (("OK", 1), ("NOT_FOUND", 1), ("UNKNOWN", 1), ("UNAUTHENTICATED", 1)):
        assert _value(metrics, total, method="Echo", code=code) == n, code
    assert _value(metrics, total, method="Stream", code="OK") == 1
    assert _value(metrics, total, method="Stream", code="RESOURCE_EXHAUSTED") == 1
    assert _value(metrics, "recsvc_grpc_request_duration_seconds_count", method="Echo") == 4
    assert _value(metrics, "recsvc_grpc_request_duration_seconds_count", method="Stream") == 2


def test_events_by_type() -> None:
    metrics = ServingMetrics.create()
    metrics.count_events({"view": 3, "purchase": 1})
    metrics.count_events({"view": 2})
    assert _value(metrics, "recsvc_events_received_total", type="view") == 5
    assert _value(metrics, "recsvc_events_received_total", type="purchase") == 1
