"""What the shared SQL mixins need from a store: its placeholder style, a read connection, a write
transaction, and the few places where SQLite's and PostgreSQL's SQL differ. The defaults are
SQLite's; ``PostgresStore`` overrides them."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from stateway.jsontext import dumps


class SqlStore:
    # a commit that need not wait for the disk (PostgreSQL: the WAL writer flushes it within a
    # fraction of a second); only for rows whose loss in a database crash is harmless
    _ASYNC_COMMIT = ""
    _FOR_UPDATE = ""  # " FOR UPDATE" where rows can be locked (PostgreSQL); SQLite locks the whole file
    _SKIP_LOCKED = ""  # " FOR UPDATE SKIP LOCKED": concurrent takers pass over a locked row, never wait for it
    # what a unique index raises when a concurrent writer inserted the same key first; SQLite's
    # writers take turns (BEGIN IMMEDIATE), so they never race
    _DUPLICATE: tuple[type[Exception], ...] = ()
    _STRPOS = "instr"  # a substring's 1-based position, 0 when absent: instr (SQLite), strpos (PostgreSQL)
    _NO_LIMIT: int | None = -1  # LIMIT's value for "all rows": -1 (SQLite), NULL (PostgreSQL)
    # many rows in one statement from typed arrays (unnest; text arrays as binary parameters, %b): one
    # round trip and one plan on PostgreSQL; SQLite, in process, takes them one by one (executemany)
    _ARRAYS = False
    # messages.seq orders a queue's messages: an identity column on PostgreSQL, issued here on SQLite
    _MESSAGE_SEQ = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM messages)"
    # history_outline's mark (see HistoryMixin.history_outline) from the detail's compact JSON text
    _OUTLINE_MARK = ("CASE type WHEN 'TaskScheduled' THEN instr(detail, '\"taskMode\":\"WaitForCustomCallback\"') > 0 "
                     "WHEN 'StepFailed' THEN json_extract(detail, '$.retry') IS NOT NULL "
                     "WHEN 'StepExited' THEN detail <> '{}' ELSE 0 END")
    shared = False  # whether other processes may use the same database

    def _sql(self, text: str) -> str:
        """SQL written with ``?`` placeholders, in this database's style."""
        return text

    def _read(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _notify(self, db: Any, topic: str) -> None:
        """Wake other processes once ``db``'s transaction commits; nobody to wake on SQLite."""

    def _in(self, column: str, values: list[Any]) -> tuple[str, Any]:
        """``column`` is one of ``values``: the clause (one placeholder) and its argument; one
        argument whatever the number of values (SQLite's variables are limited)."""
        return f"{column} IN (SELECT value FROM json_each(?))", dumps(values)

    def _name_prefix(self, prefix: str) -> tuple[str, list[Any]]:
        """Names that start with ``prefix``: the clause and its arguments. On SQLite, a range on the
        name index, up to the next prefix (names compare as UTF-8 bytes, in code point order)."""
        following = ord(prefix[-1]) + 1
        if following <= 0x10FFFF and not 0xD800 <= following <= 0xDFFF:
            return "name >= ? AND name < ?", [prefix, prefix[:-1] + chr(following)]
        return "substr(name, 1, ?) = ?", [len(prefix), prefix]

    def _text(self, value: str) -> str:
        """Free text as this database can hold it (PostgreSQL's text has no NUL)."""
        return value
