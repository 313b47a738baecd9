"""Signature nonces seen within the clock-skew window, durable so that a captured request cannot be
replayed even after a restart, and shared by every API node of one database. Both stores."""

from __future__ import annotations

from stateway.store._sql_base import SqlStore

NONCE_SWEEP_EVERY = 1000


class NoncesMixin(SqlStore):
    _nonce_inserts = 0

    def remember_nonce(self, nonce: str, now: float, window: float) -> bool:
        """Record ``nonce``; False if it was already seen within ``window`` seconds (a replay). One
        upsert on the primary key (atomic across nodes), and every NONCE_SWEEP_EVERY inserts an indexed
        delete of expired rows."""
        with self._tx() as db:
            if self._ASYNC_COMMIT:  # a nonce lost to a database crash reopens one request's replay window only
                db.execute(self._ASYNC_COMMIT)
            accepted = db.execute(self._sql(
                "INSERT INTO nonces (nonce, seen) VALUES (?, ?) ON CONFLICT (nonce) DO UPDATE SET seen=excluded.seen "
                "WHERE nonces.seen < ? RETURNING seen"), (nonce, now, now - window)).fetchone() is not None
            self._nonce_inserts += 1
            if self._nonce_inserts % NONCE_SWEEP_EVERY == 0:
                db.execute(self._sql("DELETE FROM nonces WHERE seen < ?"), (now - window,))
        return accepted

    def count_nonces(self) -> int:
        with self._read() as db:
            return int(db.execute(self._sql("SELECT COUNT(*) FROM nonces")).fetchone()[0])
