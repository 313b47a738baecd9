"""Console sessions, server-side: a session is good while its row exists and has not expired, so
signing out, removing a key and expiry end it on every node of one database. Both stores.

The console stores a hash of the session id, never the id itself: a copy of the table opens
no session."""

from __future__ import annotations

from stateway.store._sql_base import SqlStore

SESSION_SWEEP_EVERY = 100


class SessionsMixin(SqlStore):
    _session_opens = 0

    def open_session(self, session_id: str, key_id: str, expires: float, now: float) -> None:
        with self._tx() as db:
            db.execute(self._sql("INSERT INTO console_sessions (id, key_id, expires) VALUES (?, ?, ?)"),
                       (session_id, key_id, expires))
            self._session_opens += 1
            if self._session_opens % SESSION_SWEEP_EVERY == 1:
                db.execute(self._sql("DELETE FROM console_sessions WHERE expires < ?"), (now,))

    def session_key(self, session_id: str, now: float) -> str | None:
        """The key id of a live session; None when it ended, expired or never was."""
        with self._read() as db:
            row = db.execute(self._sql("SELECT key_id FROM console_sessions WHERE id = ? AND expires >= ?"),
                             (session_id, now)).fetchone()
        return None if row is None else str(row[0])

    def end_session(self, session_id: str) -> None:
        with self._tx() as db:
            db.execute(self._sql("DELETE FROM console_sessions WHERE id = ?"), (session_id,))

    def end_sessions_of(self, key_ids: list[str]) -> int:
        """End every session of these keys (removed from the configuration, or given a new secret)."""
        if not key_ids:
            return 0
        clause, arg = self._in("key_id", key_ids)
        with self._tx() as db:
            return int(db.execute(self._sql(f"DELETE FROM console_sessions WHERE {clause}"), (arg,)).rowcount or 0)
