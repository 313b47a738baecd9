"""The errors the services raise. Each has a ``code`` (CloudFlow's or MNS's name for it, or close);
the API maps codes to HTTP statuses and bodies, the CLI prints ``code: message``.

The store's and the runtime's errors are raised as they are and re-exported here, so a caller of
``stateway.app`` needs one import for everything it may catch.
"""

from __future__ import annotations

from stateway.policies import AccessDenied
from stateway.runtime import InvalidArgument, InvalidTaskToken, TaskAlreadyCompleted
from stateway.store import (
    BulkOperationNotExists,
    DatabaseInUse,
    ExecutionAlreadyExists,
    ExecutionNotExists,
    FlowAliasAlreadyExists,
    FlowAliasNotExists,
    FlowAlreadyExists,
    FlowNotExists,
    FlowVersionInUse,
    FlowVersionNotExists,
    MapRunNotExists,
    ScheduleAlreadyExists,
    ScheduleNotExists,
    StoreError,
    StoreUnavailable,
)


class AppError(Exception):
    code = "InternalServerError"


class QueueNotExists(AppError):
    code = "QueueNotExists"


class QueueAlreadyExists(AppError):
    """A queue of that name exists with other attributes."""

    code = "QueueAlreadyExists"


class MessageNotExists(AppError):
    """No message to receive, or the receipt handle is no longer valid (deleted, expired, superseded)."""

    code = "MessageNotExists"


class ReceiptHandleError(AppError):
    """The receipt handle is not one this queue gives."""

    code = "ReceiptHandleError"


class CorrelationKeyNotExists(AppError):
    """No task of the flow has that correlation key."""

    code = "CorrelationKeyNotExists"


class MapRunNotRunning(AppError):
    code = "MapRunNotRunning"


class ExecutionNotRedrivable(AppError):
    """RedriveExecution of an execution that cannot be: the message says why."""

    code = "ExecutionNotRedrivable"


__all__ = [
    "AccessDenied",
    "AppError",
    "BulkOperationNotExists",
    "ExecutionNotRedrivable",
    "CorrelationKeyNotExists",
    "DatabaseInUse",
    "ExecutionAlreadyExists",
    "ExecutionNotExists",
    "FlowAliasAlreadyExists",
    "FlowAliasNotExists",
    "FlowAlreadyExists",
    "FlowNotExists",
    "FlowVersionInUse",
    "FlowVersionNotExists",
    "InvalidArgument",
    "InvalidTaskToken",
    "MapRunNotExists",
    "MapRunNotRunning",
    "MessageNotExists",
    "QueueAlreadyExists",
    "QueueNotExists",
    "ReceiptHandleError",
    "ScheduleAlreadyExists",
    "ScheduleNotExists",
    "StoreError",
    "StoreUnavailable",
    "TaskAlreadyCompleted",
]
