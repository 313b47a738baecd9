"""Signature nonces seen within the clock-skew window, durable so that a captured request cannot be
replayed even after a restart, and shared by every API node of one database. Both stores.

A request whose first effect is a write (StartExecution, ReportTask*) records its nonce in that
write's transaction (``nonce_in_next_write``): one transaction (on PostgreSQL, four round trips)
fewer per request, and a replay is refused by the same rollback that undoes it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stateway.store._errors import NonceReplayed
from stateway.store._sql_base import SqlStore

NONCE_SWEEP_EVERY = 1000


class _Pending:
    __slots__ = ("nonce", "now", "window", "state", "depth", "at")

    def __init__(self, nonce: str, now: float, window: float) -> None:
        self.nonce, self.now, self.window = nonce, now, window
        self.state = "pending"  # -> "written" (in an open transaction) -> "done" (committed)
        self.depth = 0  # write transactions open on this thread (on PostgreSQL one may open inside another)
        self.at = 0  # the depth of the one the nonce was written in


class NoncesMixin(SqlStore):
    _nonce_inserts = 0
    _nonce_local: threading.local | None = None

    def _insert_nonce(self, db: Any, nonce: str, now: float, window: float) -> bool:
        accepted = db.execute(self._sql(
            "INSERT INTO nonces (nonce, seen) VALUES (?, ?) ON CONFLICT (nonce) DO UPDATE SET seen=excluded.seen "
            "WHERE nonces.seen < ? RETURNING seen"), (nonce, now, now - window)).fetchone() is not None
        self._nonce_inserts += 1
        if self._nonce_inserts % NONCE_SWEEP_EVERY == 0:
            db.execute(self._sql("DELETE FROM nonces WHERE seen < ?"), (now - window,))
        return accepted

    def remember_nonce(self, nonce: str, now: float, window: float) -> bool:
        """Record ``nonce``; False if it was already seen within ``window`` seconds (a replay). One
        upsert on the primary key (atomic across nodes), and every NONCE_SWEEP_EVERY inserts an indexed
        delete of expired rows."""
        with self._tx() as db:
            if self._ASYNC_COMMIT:  # a nonce lost to a database crash reopens one request's replay window only
                db.execute(self._ASYNC_COMMIT)
            return self._insert_nonce(db, nonce, now, window)

    @contextmanager
    def nonce_in_next_write(self, nonce: str, now: float, window: float) -> Iterator[None]:
        """Record ``nonce`` (as ``remember_nonce``) in the first write transaction this thread opens on
        this store within the block, before that transaction's own statements: a replay raises
        ``NonceReplayed`` there and the transaction rolls back. If no write committed it by the end of
        the block (none was made, or it failed), it is recorded on its own then; ``NonceReplayed``
        again for a replay, in place of whatever the block raised."""
        local = self._nonce_local
        if local is None:
            local = self._nonce_local = threading.local()
        pending = _Pending(nonce, now, window)
        outer = getattr(local, "pending", None)
        local.pending = pending
        try:
            yield
        finally:
            local.pending = outer
            if pending.state != "done" and not self.remember_nonce(nonce, now, window):
                raise NonceReplayed(nonce)

    def _pending_nonce(self) -> _Pending | None:
        """The nonce this thread's next write is to record, for a store method that writes it in its
        own statement (``_pg_tasks``); the method then calls ``_nonce_written``."""
        local = self._nonce_local
        pending = getattr(local, "pending", None) if local is not None else None
        return pending if pending is not None and pending.state == "pending" and pending.depth == 0 else None

    def _nonce_written(self, pending: _Pending, accepted: bool) -> None:
        """``pending`` was committed (``accepted``), or found seen before: then ``NonceReplayed``."""
        pending.state = "done"
        self._nonce_inserts += 1
        if self._nonce_inserts % NONCE_SWEEP_EVERY == 0:
            with self._tx() as db:
                db.execute(self._sql("DELETE FROM nonces WHERE seen < ?"), (pending.now - pending.window,))
        if not accepted:
            raise NonceReplayed(pending.nonce)

    def _write_begun(self, db: Any) -> None:
        """A write transaction began on this thread: a nonce waiting for it goes in first. Each call
        is paired with one ``_write_ended``, even when this one raises."""
        local = self._nonce_local
        pending = getattr(local, "pending", None) if local is not None else None
        if pending is None:
            return
        pending.depth += 1
        if pending.state != "pending":
            return
        if not self._insert_nonce(db, pending.nonce, pending.now, pending.window):
            pending.state = "done"  # seen before: nothing to record at the end either
            raise NonceReplayed(pending.nonce)
        pending.state, pending.at = "written", pending.depth

    def _write_ended(self, committed: bool) -> None:
        local = self._nonce_local
        pending = getattr(local, "pending", None) if local is not None else None
        if pending is None:
            return
        if pending.state == "written" and pending.at == pending.depth:
            pending.state = "done" if committed else "pending"
        pending.depth -= 1

    def count_nonces(self) -> int:
        with self._read() as db:
            return int(db.execute(self._sql("SELECT COUNT(*) FROM nonces")).fetchone()[0])
