"""Function calls that were handed out and gave no result (their worker died, their instance
crashed): counted durably, so that a call that kills whatever runs it stops being dispatched
(``[functions] max_dispatches``). Rows are written only when a dispatch was lost, never on the
path of a call that answers."""

from __future__ import annotations

from typing import Any

from stateway.store._sql_base import SqlStore

# commands taken over from a dead worker, by (execution id, task id): the dispatch count claim_outbox
# read, for the integration that runs them (in memory, bounded; see ``InvocationStore.redispatched``)
REDISPATCHED_LIMIT = 10_000


class DispatchesMixin(SqlStore):
    def note_lost_dispatch(self, invocation_id: str, execution_id: int | None, task_id: str | None, function: str,
                           exit: str, stderr: str, now: float, *, gave_up: bool = False, count: int = 1
                           ) -> dict[str, Any]:
        """``count`` more dispatches of the invocation that gave no result (0: one already counted
        before it ran); what is known of it (``exit``, ``stderr``: empty keeps the last known).
        Returns the row as :meth:`lost_dispatches` does."""
        with self._tx() as db:
            db.execute(self._sql(
                "INSERT INTO function_dispatches (id, execution_id, task_id, function, lost, last_exit, last_stderr, "
                "gave_up, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "lost = function_dispatches.lost + excluded.lost, "
                "last_exit = CASE WHEN excluded.last_exit = '' THEN function_dispatches.last_exit "
                "ELSE excluded.last_exit END, "
                "last_stderr = CASE WHEN excluded.last_exit = '' THEN function_dispatches.last_stderr "
                "ELSE excluded.last_stderr END, "
                "gave_up = excluded.gave_up, updated = excluded.updated"),
                (invocation_id, execution_id, task_id, function, count, exit, self._text(stderr), int(gave_up), now))
            row = db.execute(self._sql(
                "SELECT lost, last_exit, last_stderr, gave_up FROM function_dispatches WHERE id=?"),
                (invocation_id,)).fetchone()
        return _row(row)

    def give_up_dispatch(self, invocation_id: str) -> None:
        with self._tx() as db:
            db.execute(self._sql("UPDATE function_dispatches SET gave_up=1 WHERE id=?"), (invocation_id,))

    def lost_dispatches(self, invocation_id: str) -> dict[str, Any]:
        """``{"lost": n, "last_exit": ..., "last_stderr": ..., "gave_up": bool}`` (n = 0: none lost)."""
        with self._read() as db:
            row = db.execute(self._sql(
                "SELECT lost, last_exit, last_stderr, gave_up FROM function_dispatches WHERE id=?"),
                (invocation_id,)).fetchone()
        return _row(row)

    def poison_calls(self, execution_id: int) -> list[dict[str, Any]]:
        """The execution's function calls that were given up (dispatched too often without a result)."""
        with self._read() as db:
            rows = db.execute(self._sql(
                "SELECT task_id, function, lost, last_exit, last_stderr FROM function_dispatches "
                "WHERE execution_id=? AND gave_up=1 ORDER BY updated"), (execution_id,)).fetchall()
        return [{"task_id": r[0], "function": r[1], "dispatches": r[2], "last_exit": r[3], "last_stderr": r[4]}
                for r in rows]

    def _remember_redispatch(self, execution_id: int, command: dict[str, Any], dispatches: int) -> None:
        if dispatches > 1 and command.get("kind") == "invoke":
            redispatched = self.redispatched
            while len(redispatched) >= REDISPATCHED_LIMIT:
                redispatched.pop(next(iter(redispatched)))
            redispatched[(execution_id, str(command.get("task")))] = dispatches


def _row(row: Any) -> dict[str, Any]:
    if row is None:
        return {"lost": 0, "last_exit": "", "last_stderr": "", "gave_up": False}
    return {"lost": int(row[0]), "last_exit": row[1], "last_stderr": row[2], "gave_up": bool(row[3])}
