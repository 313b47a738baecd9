"""Durable state behind one interface: ``Store``. ``SQLiteStore`` is the embedded default;
``SQLiteStore.in_memory()`` serves unit tests and Express runs with the same code and schema.
"""

from stateway.store._errors import ExecutionAlreadyExists, FlowAlreadyExists, FlowNotExists, StoreError
from stateway.store._sqlite import SQLiteStore
from stateway.store._types import ExecutionRow, Store

__all__ = [
    "ExecutionAlreadyExists",
    "ExecutionRow",
    "FlowAlreadyExists",
    "FlowNotExists",
    "SQLiteStore",
    "Store",
    "StoreError",
]
