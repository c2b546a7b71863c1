"""Domain errors that carry their gRPC status by name, so domain code never imports grpc.

One place (``recsvc.server.errors``) maps ``Status`` to ``grpc.StatusCode``; the CLI maps any
``RecsvcError`` to a one-line message and a non-zero exit.
"""

from __future__ import annotations

import enum


class Status(enum.Enum):
    """The subset of gRPC status codes domain code may raise."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INTERNAL = "INTERNAL"


class RecsvcError(Exception):
    """Base error; ``status`` says how the API reports it, ``field`` names the culprit if any."""

    status: Status = Status.INTERNAL

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidArgument(RecsvcError):
    status = Status.INVALID_ARGUMENT


class NotFound(RecsvcError):
    status = Status.NOT_FOUND


class FailedPrecondition(RecsvcError):
    status = Status.FAILED_PRECONDITION


class ResourceExhausted(RecsvcError):
    status = Status.RESOURCE_EXHAUSTED


class Unavailable(RecsvcError):
    status = Status.UNAVAILABLE


class DataError(InvalidArgument):
    """A canonical file that cannot be read: names the file, row and column."""

    def __init__(self, path: str, message: str, *, row: int | None = None, column: str | None = None) -> None:
        where = path
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}", field=column)
        self.path = path
        self.detail = message
        self.row = row
        self.column = column
