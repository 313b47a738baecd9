"""PostgreSQL's ``complete_task`` in one statement: the open task's deletion, its result queued in
the inbox and the wake-up notice, where the shared SQL (``_sql_tasks``) takes three round trips. A
reported callback (ReportTaskSucceeded) and every function result pass here."""

from __future__ import annotations

from typing import Any

from stateway.jsontext import dumps
from stateway.store._sql_base import SqlStore


class PgTasksMixin(SqlStore):
    _CHANNEL = ""  # the LISTEN/NOTIFY channel (PostgresStore's)

    def complete_task(self, execution_id: int, task_id: str, event: dict[str, Any]) -> bool:
        """Close an open task and queue its result, atomically. False when it was already closed."""
        with self._tx() as db:
            row = db.execute(
                "WITH gone AS (DELETE FROM open_tasks WHERE execution_id=%s AND task_id=%s RETURNING execution_id), "
                "queued AS (INSERT INTO inbox (execution_id, due, event) SELECT execution_id, 0, %s FROM gone "
                "RETURNING execution_id) "
                "SELECT pg_notify(%s, 'work') FROM queued",
                (execution_id, task_id, dumps(event), self._CHANNEL)).fetchone()
            return row is not None
