"""Durable state behind one interface: ``Store``. ``SQLiteStore`` is the embedded default;
``SQLiteStore.in_memory()`` serves unit tests and Express runs with the same code and schema.
"""

from stateway.store._errors import (
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
)
from stateway.store._sqlite import SQLiteStore
from stateway.store._types import ExecutionRow, Store

__all__ = [
    "ExecutionAlreadyExists",
    "ExecutionNotExists",
    "ExecutionRow",
    "FlowAliasAlreadyExists",
    "FlowAliasNotExists",
    "FlowAlreadyExists",
    "FlowNotExists",
    "FlowVersionInUse",
    "FlowVersionNotExists",
    "MapRunNotExists",
    "SQLiteStore",
    "ScheduleAlreadyExists",
    "ScheduleNotExists",
    "Store",
    "StoreError",
]
