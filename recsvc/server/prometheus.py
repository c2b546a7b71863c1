"""Prometheus metrics on an optional HTTP port (``server.metrics_port``; 0 = off).

Serving metrics, counted as calls end:
``recsvc_grpc_requests_total{method,code}`` (code: the gRPC status name the call ended with, ``OK``,
``INVALID_ARGUMENT``...), ``recsvc_grpc_request_duration_seconds{method}`` and
``recsvc_events_received_total{type}`` (valid events ``ReportEvents`` received, duplicates too). Beside them the
engine's own figures, read at scrape time (:mod:`recsvc.server.prometheus_engine`).

Several server processes (``server.processes``) count into ``PROMETHEUS_MULTIPROC_DIR``, a folder
the parent creates and removes (prometheus_client's multiprocess mode), and the one process that
serves the port sums every process's serving metrics per scrape. Its engine gauges are its own
view: those of the shared store (outcomes, retention, items, events) hold for the whole service,
its call counters only for that process (the summed ones are the ``recsvc_grpc_*`` series).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from recsvc.errors import FailedPrecondition
from recsvc.server.handlers import HandlerInterceptor, rewrap
from recsvc.server.prometheus_engine import EngineCollector, MetricsSource

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Most calls take a few ms (cached Recommend ~1-5 ms); copy waits and bulk scoring take seconds.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess() -> bool:
    """True when metrics go to ``PROMETHEUS_MULTIPROC_DIR`` (several server processes)."""
    return bool(os.environ.get(MULTIPROC_ENV))


@dataclass
class ServingMetrics:
    """The serving counters and histogram of one server, and the registry they are exposed from."""

    registry: CollectorRegistry
    requests: Counter
    duration: Histogram
    events: Counter

    @classmethod
    def create(cls) -> ServingMetrics:
        """Metrics of their own registry (one server per registry, so tests can run several); in
        multiprocess mode they live in the shared folder and the registry reads that folder."""
        registry = CollectorRegistry(auto_describe=True)
        own: CollectorRegistry | None = registry
        if multiprocess():
            MultiProcessCollector(registry)
            own = None  # the values are written to the folder; the collector above reads every process's
        return cls(
            registry=registry,
            requests=Counter(
                "recsvc_grpc_requests", "gRPC calls by method and status code", ["method", "code"], registry=own
            ),
            duration=Histogram(
                "recsvc_grpc_request_duration_seconds",
                "gRPC call latency, handler start to end",
                ["method"],
                buckets=LATENCY_BUCKETS_S,
                registry=own,
            ),
            events=Counter(
                "recsvc_events_received", "Valid events ReportEvents received (duplicates too)", ["type"], registry=own
            ),
        )

    def count_events(self, by_type: Mapping[str, int]) -> None:
        for event_type, n in by_type.items():
            self.events.labels(event_type).inc(n)

    def expose_engine(self, source: MetricsSource) -> EngineCollector:
        """Add the engine's figures (read at each scrape) to what this registry exposes."""
        collector = EngineCollector(source)
        self.registry.register(collector)
        return collector


def method_label(method: str, service: str) -> str:
    """``Recommend`` for the service's own ``/recsvc.v1.PushRecommender/Recommend``; other services'
    methods keep their full name (``grpc.health.v1.Health/Check``)."""
    own = f"/{service}/"
    return method[len(own) :] if method.startswith(own) else method.lstrip("/")


def _ended_with(context: grpc.ServicerContext, default: grpc.StatusCode) -> str:
    """The status the call ended with: the one set by ``abort``/``set_code``, else ``default``."""
    code = context.code() if hasattr(context, "code") else None
    return code.name if isinstance(code, grpc.StatusCode) else default.name


Done = Callable[[float, str], None]  # records one call: its start (perf_counter) and final status name


class PrometheusInterceptor(HandlerInterceptor):
    """Counts every call by method and final status and times it. First in the chain, so calls that
    other interceptors refuse (a missing token, bytes that do not parse, shutdown) count too."""

    def __init__(self, metrics: ServingMetrics, service: str) -> None:
        self._metrics = metrics
        self._service = service
        # The labelled children, kept: ``labels()`` takes a lock and builds a key on every call.
        self._done: dict[str, Done] = {}

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        done = self._done.get(method)
        if done is None:
            done = self._done[method] = self._recorder(method_label(method, self._service))
        return rewrap(  # type: ignore[no-any-return]
            handler, lambda kind, b: _streaming(b, done) if kind.endswith("stream") else _unary(b, done)
        )

    def _recorder(self, label: str) -> Done:
        hist = self._metrics.duration.labels(label)
        requests = self._metrics.requests
        by_code: dict[str, Any] = {}

        def done(t0: float, code: str) -> None:
            hist.observe(time.perf_counter() - t0)
            counter = by_code.get(code)
            if counter is None:
                counter = by_code[code] = requests.labels(label, code)
            counter.inc()

        return done


def _unary(behaviour: Callable[[Any, grpc.ServicerContext], Any], done: Done) -> Callable[..., Any]:
    def run(request: Any, context: grpc.ServicerContext) -> Any:
        t0 = time.perf_counter()
        try:
            response = behaviour(request, context)
        except BaseException:
            done(t0, _ended_with(context, grpc.StatusCode.UNKNOWN))  # gRPC answers UNKNOWN to a bare exception
            raise
        done(t0, _ended_with(context, grpc.StatusCode.OK))
        return response

    return run


def _streaming(behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]], done: Done) -> Callable[..., Any]:
    # A response stream's body runs while gRPC iterates it: the call ends when the iteration does.
    def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        t0 = time.perf_counter()
        try:
            yield from behaviour(request, context)
        except GeneratorExit:  # the client went away mid-stream
            done(t0, grpc.StatusCode.CANCELLED.name)
            raise
        except BaseException:
            done(t0, _ended_with(context, grpc.StatusCode.UNKNOWN))
            raise
        done(t0, _ended_with(context, grpc.StatusCode.OK))

    return run


class MetricsHTTP:
    """The ``/metrics`` HTTP server of one registry, on its own thread."""

    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, engine: EngineCollector | None = None
    ) -> None:
        self._engine = engine
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            if engine is not None:
                engine.close()
            raise FailedPrecondition(
                f"server.metrics_port: cannot bind {host}:{port} for Prometheus metrics ({exc.strerror or exc})",
                field="server.metrics_port",
            ) from None
        self.port = int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
        if self._engine is not None:
            self._engine.close()


def port_free(host: str, port: int) -> None:
    """Raise the same error as :class:`MetricsHTTP` when ``host:port`` cannot be bound now (the parent
    of several processes checks before a child serves it, so a busy port stops ``serve`` at once)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP server binds it
        try:
            s.bind((host, port))
        except OSError as exc:
            raise FailedPrecondition(
                f"server.metrics_port: cannot bind {host}:{port} for Prometheus metrics ({exc.strerror or exc})",
                field="server.metrics_port",
            ) from None
