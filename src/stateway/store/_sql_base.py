"""What the shared SQL mixins (versions, Map Runs) need from a store: its placeholder style, a read
connection, a write transaction, and row locking where the database has it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any


class SqlStore:
    # a commit that need not wait for the disk (PostgreSQL: the WAL writer flushes it within a
    # fraction of a second); only for rows whose loss in a database crash is harmless
    _ASYNC_COMMIT = ""
    _FOR_UPDATE = ""  # " FOR UPDATE" where rows can be locked (PostgreSQL); SQLite locks the whole file

    def _sql(self, text: str) -> str:
        """SQL written with ``?`` placeholders, in this database's style."""
        return text

    def _read(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError
