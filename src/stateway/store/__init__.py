"""Durable state behind one contract (``stateway.store.contract``). ``SQLiteStore`` is the
embedded default; ``SQLiteStore.in_memory()`` serves unit tests and Express runs with the same code
and schema; ``PostgresStore`` serves many processes. ``open_store(url)`` picks one.
"""

from stateway.store._errors import (
    ExecutionAlreadyExists,
    ExecutionNotExists,
    FlowAliasAlreadyExists,
    FlowAliasNotExists,
    FlowAlreadyExists,
    FlowNotExists,
    FlowNotStandard,
    FlowVersionInUse,
    FlowVersionNotExists,
    MapRunNotExists,
    NonceReplayed,
    ScheduleAlreadyExists,
    ScheduleNotExists,
    StoreError,
)
from stateway.store._lock import DatabaseInUse, EngineLock, lock_engine
from stateway.store._open import open_store, sqlite_path
from stateway.store._sql_maprun import ItemEnd, map_child, tolerance_exceeded
from stateway.store._sql_ops import BULK_OPERATIONS, BulkOperationNotExists
from stateway.store._sqlite import SQLiteStore
from stateway.store._types import ExecutionRow
from stateway.store.contract import DecisionCommit, LeaseLost, ResultGateClosed, Store, StoreUnavailable

__all__ = [
    "BULK_OPERATIONS",
    "BulkOperationNotExists",
    "DatabaseInUse",
    "EngineLock",
    "ExecutionAlreadyExists",
    "ExecutionNotExists",
    "ExecutionRow",
    "FlowAliasAlreadyExists",
    "FlowAliasNotExists",
    "FlowAlreadyExists",
    "FlowNotExists",
    "FlowNotStandard",
    "FlowVersionInUse",
    "FlowVersionNotExists",
    "ItemEnd",
    "DecisionCommit",
    "LeaseLost",
    "MapRunNotExists",
    "NonceReplayed",
    "ResultGateClosed",
    "SQLiteStore",
    "ScheduleAlreadyExists",
    "ScheduleNotExists",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "lock_engine",
    "map_child",
    "open_store",
    "sqlite_path",
    "tolerance_exceeded",
]
