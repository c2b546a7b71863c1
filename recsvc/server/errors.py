"""The one place that maps domain errors to gRPC status codes.

Every servicer method is wrapped by :func:`grpc_errors`: a ``RecsvcError`` becomes its status with
the message (which names the field); anything else is logged with its traceback and answered
``INTERNAL`` with a short message, so a caller never sees a Python traceback and the server keeps
serving.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from recsvc.errors import RecsvcError, Status

logger = logging.getLogger(__name__)

STATUS_CODES: dict[Status, grpc.StatusCode] = {s: getattr(grpc.StatusCode, s.value) for s in Status}

F = TypeVar("F", bound=Callable[..., Any])


def abort_for(exc: BaseException, context: grpc.ServicerContext) -> None:
    """Abort the call with the status that ``exc`` stands for (raises ``grpc.RpcError``-like abort)."""
    if isinstance(exc, RecsvcError):
        context.abort(STATUS_CODES[exc.status], exc.message)
    logger.exception("unhandled error in %s", getattr(context, "_rpc_event", "rpc"), exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")


def code_of(exc: BaseException) -> grpc.StatusCode:
    return STATUS_CODES[exc.status] if isinstance(exc, RecsvcError) else grpc.StatusCode.INTERNAL


def grpc_errors(fn: F) -> F:
    """Wrap a unary or response-streaming servicer method so domain errors become statuses."""

    @functools.wraps(fn)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as exc:
            abort_for(exc, context)
            raise  # unreachable: abort raises

    @functools.wraps(fn)
    def streaming(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from fn(self, request, context)
        except Exception as exc:
            abort_for(exc, context)

    import inspect

    return streaming if inspect.isgeneratorfunction(fn) else unary  # type: ignore[return-value]
