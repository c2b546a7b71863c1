"""Counting the service's running handlers, so shutdown closes the engine only once they returned.

Why: ``grpc.Server.stop(grace)`` cancels the calls still open when the grace ends, but it cannot
stop a Python handler that is running; that handler goes on using the store. Closing the engine
under it would fail the call with a traceback. Every service handler therefore passes through
:class:`InFlight`: :meth:`InFlight.close` refuses handlers that start later (``UNAVAILABLE``), and
:meth:`InFlight.wait_idle` waits until the running ones have returned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from recsvc.server.handlers import HandlerInterceptor, rewrap

_REFUSED = "the server is shutting down; retry on another instance"


class InFlight:
    """The number of running handlers, and a flag that refuses new ones once shutdown began."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running = 0
        self._closed = False

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    def enter(self) -> bool:
        """Count one more running handler; False (and nothing counted) after :meth:`close`."""
        with self._cond:
            if self._closed:
                return False
            self._running += 1
            return True

    def exit(self) -> None:
        with self._cond:
            self._running -= 1
            if self._running == 0:
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no handler runs; False if some still do after ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running == 0, timeout)


def _unary(gate: InFlight, behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    def run(request: Any, context: grpc.ServicerContext) -> Any:
        if not gate.enter():
            context.abort(grpc.StatusCode.UNAVAILABLE, _REFUSED)
        try:
            return behavior(request, context)
        finally:
            gate.exit()

    return run


def _streaming(gate: InFlight, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]]) -> Callable[..., Any]:
    # The body of a response-streaming handler runs while gRPC iterates it, so the count covers the
    # whole iteration, not just the call that creates the generator.
    def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if not gate.enter():
            context.abort(grpc.StatusCode.UNAVAILABLE, _REFUSED)
        try:
            yield from behavior(request, context)
        finally:
            gate.exit()

    return run


class InFlightInterceptor(HandlerInterceptor):
    """Passes every handler of the methods under ``prefix`` through ``gate``."""

    def __init__(self, gate: InFlight, prefix: str) -> None:
        self._gate = gate
        self._prefix = prefix

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        if not method.startswith(self._prefix):
            return handler
        g = self._gate
        return rewrap(handler, lambda kind, b: _streaming(g, b) if kind.endswith("stream") else _unary(g, b))
