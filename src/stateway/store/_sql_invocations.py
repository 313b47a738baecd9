"""Async function invocations, durable: queued, finished, read, cancelled. Both stores; claiming one
(row locks) and requeueing after a restart (who may) differ and stay with each store."""

from __future__ import annotations

from typing import Any

from stateway.jsontext import dumps
from stateway.store._sql_base import SqlStore
from stateway.store._sql_rows import loads_or_none


class InvocationsMixin(SqlStore):
    def enqueue_invocation(self, invocation_id: str, function: str, event: Any, now: float,
                           execution_id: int | None, task_id: str | None, notify: bool) -> bool:
        """False when an invocation with this id was queued before (a retried request)."""
        with self._tx() as db:
            done = db.execute(self._sql(
                "INSERT INTO invocations (id, function, event, status, execution_id, task_id, notify, created) "
                "VALUES (?, ?, ?, 'Queued', ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"),
                (invocation_id, function, dumps(event), execution_id, task_id, bool(notify), now)).rowcount == 1
            if done:
                self._notify(db, "invocation")
            return done

    def finish_invocation(self, invocation_id: str, status: str, result: Any, error: str | None,
                          cause: str | None) -> None:
        with self._tx() as db:
            db.execute(self._sql("UPDATE invocations SET status=?, result=?, error=?, cause=?, owner=NULL, "
                                 "lease_until=NULL WHERE id=?"), (status, dumps(result), error, cause, invocation_id))

    def get_invocation(self, invocation_id: str) -> dict[str, Any] | None:
        with self._read() as db:
            row = db.execute(self._sql("SELECT id, status, result, error, cause FROM invocations WHERE id=?"),
                             (invocation_id,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "status": row[1], "result": loads_or_none(row[2]), "error": row[3], "cause": row[4]}

    def cancel_invocation(self, invocation_id: str) -> str | None:
        """Mark a queued or running invocation cancelled; returns the status it had."""
        with self._tx() as db:
            row = db.execute(self._sql("SELECT status FROM invocations WHERE id=?" + self._FOR_UPDATE),
                             (invocation_id,)).fetchone()
            if row is None:
                return None
            if row[0] in ("Queued", "Running"):
                db.execute(self._sql("UPDATE invocations SET status='Cancelled', owner=NULL, lease_until=NULL "
                                     "WHERE id=?"), (invocation_id,))
            return str(row[0])
