"""Requests whose bytes do not parse as their message are INVALID_ARGUMENT, not INTERNAL.

grpcio answers a request its deserializer cannot parse (for example a ``string`` field holding
invalid UTF-8, which clients in other languages can send) with ``INTERNAL: Exception deserializing
request!``. This interceptor parses the request itself and answers such a request with
``INVALID_ARGUMENT`` naming the ``request``, like any other bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

from recsvc.server.handlers import HandlerInterceptor, rewrap


class _Undecodable:
    """Stands in for a request that did not parse, so the handler can refuse it with a status."""

    def __init__(self, error: BaseException) -> None:
        self.error = f"{type(error).__name__}: {error}"


def _refuse(bad: _Undecodable, context: grpc.ServicerContext) -> None:
    context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"request: cannot be parsed as the method's message ({bad.error}); strings must be valid UTF-8",
    )


def _checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, _Undecodable):
            _refuse(request, context)
        yield request


def _wrap(handler: Any) -> Any:
    parse: Callable[[bytes], Any] = handler.request_deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as exc:  # any parse failure is the caller's bytes, not our fault
            return _Undecodable(exc)

    def unary(behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                _refuse(request, context)
            return behaviour(request, context)

        return call

    def streaming(behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
        def call(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            return behaviour(_checked(requests, context), context)

        return call

    return rewrap(
        handler,
        lambda kind, b: streaming(b) if kind.startswith("stream") else unary(b),
        request_deserializer=deserialize,
    )


class DecodeErrorInterceptor(HandlerInterceptor):
    """Wraps each method's request parser so that bytes that do not parse get INVALID_ARGUMENT."""

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        if getattr(handler, "request_deserializer", None) is None or not hasattr(handler, "_replace"):
            return handler
        return _wrap(handler)  # type: ignore[no-any-return]
