"""Server assembly: ``build_server(settings)`` and the process that runs it.

The server comes back unstarted, with the standard health service (``NOT_SERVING`` until the
models are loaded) and reflection. ``start()`` loads models on a background thread so the port
answers health checks at once, warms every serving path, then reports SERVING; a watcher swaps in
new model versions whole, and keeps looking when nothing could be loaded yet, so a good version
added later brings the server to SERVING. SIGTERM drains in-flight calls for ``server.grace_s``
seconds and closes the engine only once every running handler has returned.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from recsvc.engine.engine import Engine
from recsvc.server import warmup
from recsvc.server.decode import DecodeErrorInterceptor
from recsvc.server.inflight import InFlight, InFlightInterceptor
from recsvc.server.servicer import SERVICE_NAME, add_to_server
from recsvc.settings import Settings
from recsvc.store import is_postgres

if TYPE_CHECKING:
    from recsvc.server.prometheus import MetricsHTTP

logger = logging.getLogger(__name__)

# Health of the local LLM alone: NOT_SERVING means copy comes from templates, the service still serves.
COPY_LLM_SERVICE = "recsvc.copy.llm"
_OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_STORE_PROBE_S = 1.0  # how often health re-checks a shared (PostgreSQL) store
_UNLOADED_RETRY_S = 5.0  # how often a server without models retries when reload_interval_s is 0


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Refuses calls without ``authorization: Bearer <token>`` (health and reflection stay open)."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}"

        def deny(request: Any, context: grpc.ServicerContext) -> None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API token (authorization: Bearer ...)")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.unary_stream_rpc_method_handler(deny)
        self._deny_bidi = grpc.stream_stream_rpc_method_handler(deny)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method.startswith(_OPEN_METHODS):
            return continuation(handler_call_details)
        md = dict(handler_call_details.invocation_metadata or ())
        import hmac

        if hmac.compare_digest(str(md.get("authorization", "")), self._expected):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.request_streaming and handler.response_streaming:
            return self._deny_bidi
        if handler.response_streaming:
            return self._deny_stream
        return self._deny


@dataclass
class RecsvcServer:
    """An assembled, not yet started server: call :meth:`start`, then :meth:`wait` or :meth:`stop`."""

    settings: Settings
    server: grpc.Server
    port: int
    engine: Engine
    health: health.HealthServicer
    executor: futures.ThreadPoolExecutor
    inflight: InFlight = field(default_factory=InFlight)
    metrics_http: MetricsHTTP | None = None  # the Prometheus /metrics server, when this process serves it
    _stop_event: threading.Event = field(default_factory=threading.Event)
    _closed: threading.Event = field(default_factory=threading.Event)
    _stop_lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def start(self, *, load_models: bool = True) -> None:
        """Start listening now; load models in the background and flip health to SERVING."""
        self.server.start()
        logger.info("listening on %s:%d", self.settings.server.host, self.port)
        if load_models:
            t = threading.Thread(target=self._load_then_watch, name="model-loader", daemon=True)
            t.start()
            self._threads.append(t)
        if self.settings.copy.local_status_file:
            t = threading.Thread(target=self._watch_llm, name="llm-health", daemon=True)
            t.start()
            self._threads.append(t)
        if is_postgres(self.settings.paths.store):
            t = threading.Thread(target=self._watch_store, name="store-health", daemon=True)
            t.start()
            self._threads.append(t)

    def _watch_store(self) -> None:
        """Health follows a shared store: NOT_SERVING while it does not answer (calls fail UNAVAILABLE
        meanwhile), SERVING again once it does and models are loaded, without a restart."""
        down = False
        while not self._stop_event.wait(_STORE_PROBE_S):
            try:
                self.engine.store.ping()
                up = True
            except Exception as exc:
                up = False
                if not down:
                    logger.error("store unavailable (%s); health NOT_SERVING until it answers", exc)
            if up != down:
                continue
            down = not up
            if down:
                self._set_serving(False)
            elif self.engine.loaded and not self._stop_event.is_set():
                logger.info("store answers again; SERVING")
                self._set_serving(True)

    def _watch_llm(self, interval_s: float = 1.0) -> None:
        """Mirror the local LLM supervisor's published state into the health service."""
        last: bool | None = None
        while True:
            status = self.engine.llm_status()
            up = status is not None and status.up
            if up != last:
                self.health.set(
                    COPY_LLM_SERVICE,
                    health_pb2.HealthCheckResponse.SERVING if up else health_pb2.HealthCheckResponse.NOT_SERVING,
                )
                last = up
            if self._stop_event.wait(interval_s):
                return

    def load_models_now(self) -> None:
        """Load synchronously (tests, CLI), warm every serving path, then mark the server SERVING."""
        self.engine.load_models()
        self.warm_up()
        if not self._stop_event.is_set():
            self._set_serving(True)

    def warm_up(self) -> None:
        """Candidates of every known user (``engine.warm_on_load``), then every request path: see
        :mod:`recsvc.server.warmup`. Before SERVING, so the first traffic meets a warm server."""
        if self.settings.engine.warm_on_load:
            t0 = time.monotonic()
            n = self.engine.warm(stop=self._stop_event)
            logger.info("warmed candidates for %d users in %.1fs", n, time.monotonic() - t0)
        if not self._stop_event.is_set():
            warmup.warm_paths(self.engine, self.settings, self.port, self.executor)

    def _try_first_load(self, last_error: str) -> tuple[bool, str]:
        """One attempt to load models and flip to SERVING; a failure is logged once per distinct cause."""
        try:
            self.load_models_now()
        except Exception as exc:
            if self._stop_event.is_set():
                logger.info("model loading stopped by shutdown")
                return False, str(exc)
            if str(exc) != last_error:
                logger.error("loading models failed (%s); health stays NOT_SERVING, retrying as models change", exc)
            return False, str(exc)
        logger.info("models loaded: %s", self.engine.versions())
        return True, ""

    def _load_then_watch(self) -> None:
        """Load, then watch for new versions; until a first load succeeds the watcher keeps trying
        (every ``reload_interval_s``, or every few seconds when reloading is off)."""
        loaded, error = self._try_first_load("")
        interval = self.settings.engine.reload_interval_s
        while interval > 0 or not loaded:
            if self._stop_event.wait(interval if interval > 0 else _UNLOADED_RETRY_S):
                return
            if not loaded:
                loaded, error = self._try_first_load(error)
                continue
            try:
                if self.engine.reload_if_newer():
                    warmup.settle_gc()  # the previous set was frozen with the rest: let the collector free it
                self.engine.sync_items(force=True)  # idle processes pick up other processes' items too
            except Exception:
                logger.exception("model reload check failed; the current models keep serving")

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish within ``grace`` seconds, wait for the handlers
        still running (gRPC cancels their calls after the grace, but cannot stop them), then close.

        Safe to call twice (SIGTERM, then SIGINT): the second call waits for the first to finish.
        """
        with self._stop_lock:
            first = not self._stop_event.is_set()
            self._stop_event.set()
        if not first:
            self._closed.wait()
            return
        try:
            self._set_serving(False)
            self.health.enter_graceful_shutdown()
            self.server.stop(self.settings.server.grace_s if grace is None else grace).wait()
            if self.metrics_http is not None:
                self.metrics_http.close()
            self.inflight.close()  # a handler that starts from now on answers UNAVAILABLE
            if self._drain():
                self.engine.close()
        finally:
            self._closed.set()

    def _drain(self) -> bool:
        """Wait up to ``server.drain_s`` for running handlers and the model loader; False if some still run."""
        deadline = time.monotonic() + self.settings.server.drain_s
        idle = self.inflight.wait_idle(self.settings.server.drain_s)
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        busy = [t.name for t in self._threads if t.is_alive()]
        if idle and not busy:
            return True
        logger.warning(
            "after %.0fs, %d handlers and threads %s still run; the store stays open until the process exits",
            self.settings.server.drain_s,
            self.inflight.running,
            busy,
        )
        return False

    def wait(self) -> None:
        """Block until the server stopped and, when :meth:`stop` stopped it, the engine is closed."""
        self.server.wait_for_termination()
        if self._stop_event.is_set():
            self._closed.wait()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT drain the server (main thread only)."""

        def handler(signum: int, frame: object) -> None:
            logger.info("signal %d: draining for %.1fs", signum, self.settings.server.grace_s)
            threading.Thread(target=self.stop, daemon=True).start()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def build_server(
    settings: Settings, *, engine: Engine | None = None, reuse_port: bool = False, serve_metrics: bool = True
) -> RecsvcServer:
    """Assemble the gRPC server (unstarted) with health, reflection, auth and optional TLS.

    With ``server.metrics_port`` set, calls and events are counted for Prometheus, and unless
    ``serve_metrics`` is False (the other processes of several) the port is bound here, serving now.
    """
    engine = engine or Engine(settings)
    inflight = InFlight()
    interceptors: list[grpc.ServerInterceptor] = []
    metrics_http = _prometheus(settings, engine, interceptors, serve_metrics)
    if settings.api_token:
        interceptors.append(TokenAuthInterceptor(settings.api_token))
    interceptors.append(DecodeErrorInterceptor())
    interceptors.append(InFlightInterceptor(inflight, f"/{SERVICE_NAME}/"))
    mb = settings.server.max_message_mb * 1024 * 1024
    options = [
        ("grpc.max_receive_message_length", mb),
        ("grpc.max_send_message_length", mb),
        ("grpc.so_reuseport", 1 if reuse_port else 0),
    ]
    executor = futures.ThreadPoolExecutor(max_workers=settings.server.max_workers, thread_name_prefix="rpc")
    server = grpc.server(executor, interceptors=interceptors, options=options)
    add_to_server(engine, server)
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True, experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=2)
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    address = f"{settings.server.host}:{settings.server.port}"
    if settings.server.tls_cert:
        with open(settings.server.tls_key, "rb") as fk, open(settings.server.tls_cert, "rb") as fc:
            creds = grpc.ssl_server_credentials([(fk.read(), fc.read())])
        port = server.add_secure_port(address, creds)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        from recsvc.errors import FailedPrecondition

        if metrics_http is not None:
            metrics_http.close()
        raise FailedPrecondition(f"cannot bind {address} (in use?)", field="server.port")
    out = RecsvcServer(
        settings=settings,
        server=server,
        port=port,
        engine=engine,
        health=health_servicer,
        executor=executor,
        inflight=inflight,
        metrics_http=metrics_http,
    )
    out._set_serving(False)
    return out


def _prometheus(
    settings: Settings, engine: Engine, interceptors: list[grpc.ServerInterceptor], serve: bool
) -> MetricsHTTP | None:
    """Count calls (first interceptor, so refused calls count too) and events when a metrics port is
    set; bind and serve it when ``serve``. Nothing is imported or wrapped when the port is off."""
    if not settings.server.metrics_port:
        return None
    from recsvc.server.prometheus import MetricsHTTP, PrometheusInterceptor, ServingMetrics

    metrics = ServingMetrics.create()
    interceptors.insert(0, PrometheusInterceptor(metrics, SERVICE_NAME))
    engine.on_events_received(metrics.count_events)
    if not serve:
        return None
    collector = metrics.expose_engine(engine.metrics)
    return MetricsHTTP(settings.server.host, settings.server.metrics_port, metrics.registry, collector)
