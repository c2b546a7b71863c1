"""Rewrapping a gRPC method handler's behaviour, for interceptors that act around every call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")

Behaviour = Callable[..., Any]


def rewrap(handler: grpc.RpcMethodHandler, wrap: Callable[[str, Behaviour], Behaviour], **changes: Any) -> Any:
    """``handler`` with its behaviour passed through ``wrap(kind, behaviour)`` (``kind`` is one of
    :data:`KINDS`, e.g. ``"unary_stream"``) and any other field replaced by ``changes``."""
    for kind in KINDS:
        behaviour = getattr(handler, kind)
        if behaviour is not None:
            changes[kind] = wrap(kind, behaviour)
    return handler._replace(**changes)  # type: ignore[attr-defined]


class HandlerInterceptor(grpc.ServerInterceptor):
    """An interceptor that replaces each method's handler with :meth:`wrap`'s version of it."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return self.wrap(handler, handler_call_details.method)

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """The handler to serve ``method`` with (``handler`` itself when it needs no wrapping)."""
        raise NotImplementedError
