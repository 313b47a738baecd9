"""Durable state behind one interface: ``Store``. ``SQLiteStore`` is the embedded default;
``SQLiteStore.in_memory()`` serves unit tests and Express runs with the same code and schema.
"""

from stateway.store._errors import (
    ExecutionAlreadyExists,
    ExecutionNotExists,
    FlowAlreadyExists,
    FlowNotExists,
    ScheduleAlreadyExists,
    ScheduleNotExists,
    StoreError,
)
from stateway.store._lock import DatabaseInUse, EngineLock, lock_engine
from stateway.store._sqlite import SQLiteStore
from stateway.store._types import ExecutionRow, Store

__all__ = [
    "DatabaseInUse",
    "EngineLock",
    "ExecutionAlreadyExists",
    "ExecutionNotExists",
    "ExecutionRow",
    "FlowAlreadyExists",
    "FlowNotExists",
    "SQLiteStore",
    "ScheduleAlreadyExists",
    "ScheduleNotExists",
    "Store",
    "StoreError",
    "lock_engine",
]
