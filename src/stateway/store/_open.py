"""``open_store(url)``: the one place that turns a store setting into a store."""

from __future__ import annotations

import os
from typing import Any

from stateway.store.contract import Store

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def sqlite_path(target: str) -> str:
    """The database file a SQLite setting names: a ``sqlite:`` URL (``sqlite:///relative.db``,
    ``sqlite:////absolute.db``, ``sqlite://`` in memory), a file ending .db/.sqlite/.sqlite3, or a
    data directory (holding ``stateway.db``)."""
    if target.startswith("sqlite:"):
        rest = target[len("sqlite:"):]
        if rest in ("", "//", "//:memory:", ":memory:"):
            return ":memory:"
        if not rest.startswith("///"):
            raise ValueError(f"store URL {target!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return rest[3:]
    if target == ":memory:":
        return target
    if target.endswith(_SQLITE_SUFFIXES) and not os.path.isdir(target):
        return target
    return os.path.join(target, "stateway.db")


def is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_store(target: str, **options: Any) -> Store:
    """``postgresql://user@host:port/db`` (any libpq URL) opens a ``PostgresStore`` (options:
    pool_size, statement_timeout, connect_timeout, startup_timeout); anything else is SQLite."""
    if is_postgres(target):
        from stateway.store._postgres import PostgresStore

        return PostgresStore(target, **options)
    if "://" in target and not target.startswith("sqlite:"):
        raise ValueError(f"store URL {target!r}: expected postgresql://..., sqlite:///path or a directory")
    from stateway.store._sqlite import SQLiteStore

    return SQLiteStore(sqlite_path(target))
