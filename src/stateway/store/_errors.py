from __future__ import annotations


class StoreError(Exception):
    code = "InternalServerError"


class FlowNotExists(StoreError):
    code = "FlowNotExists"


class FlowAlreadyExists(StoreError):
    code = "FlowAlreadyExists"


class FlowNotStandard(StoreError):
    """A start that asked for a Standard flow (``standard_only``) found an Express one."""

    code = "InvalidArgument"


class ExecutionAlreadyExists(StoreError):
    code = "ExecutionAlreadyExists"


class ExecutionNotExists(StoreError):
    code = "ExecutionNotExists"


class ScheduleNotExists(StoreError):
    code = "ScheduleNotExists"


class ScheduleAlreadyExists(StoreError):
    code = "ScheduleAlreadyExists"


class FlowVersionNotExists(StoreError):
    code = "FlowVersionNotExists"


class FlowVersionInUse(StoreError):
    code = "FlowVersionInUse"


class FlowAliasNotExists(StoreError):
    code = "FlowAliasNotExists"


class FlowAliasAlreadyExists(StoreError):
    code = "FlowAliasAlreadyExists"


class MapRunNotExists(StoreError):
    code = "MapRunNotExists"


class NonceReplayed(Exception):  # noqa: N818  (not a StoreError: nothing that handles those may swallow it)
    """A signature nonce recorded with a request's write (``nonce_in_next_write``) was seen before:
    the request is a replay, and its transaction was rolled back."""
