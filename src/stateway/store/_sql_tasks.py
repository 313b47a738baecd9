"""Open tasks (what an execution waits for), their completion, what tasks printed, and where
executions are. Both stores."""

from __future__ import annotations

from typing import Any

from stateway.jsontext import dumps
from stateway.store._sql_base import SqlStore

_OPEN_TASK_KEYS = ("execution_id", "task_id", "token", "state", "step", "action", "mode", "opened")


class TasksMixin(SqlStore):
    def complete_task(self, execution_id: int, task_id: str, event: dict[str, Any]) -> bool:
        """Close an open task and queue its result, atomically. False when it was already closed."""
        with self._tx() as db:
            if db.execute(self._sql("DELETE FROM open_tasks WHERE execution_id=? AND task_id=?"),
                          (execution_id, task_id)).rowcount == 0:
                return False
            db.execute(self._sql("INSERT INTO inbox (execution_id, due, event) VALUES (?, 0, ?)"),
                       (execution_id, dumps(event)))
            self._notify(db, "work")
            return True

    def is_task_open(self, execution_id: int, task_id: str) -> bool:
        with self._read() as db:
            return db.execute(self._sql("SELECT 1 FROM open_tasks WHERE execution_id=? AND task_id=?"),
                              (execution_id, task_id)).fetchone() is not None

    def open_tasks(self, execution_id: int | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(_OPEN_TASK_KEYS)} FROM open_tasks"
        args: tuple[Any, ...] = ()
        if execution_id is not None:
            sql += " WHERE execution_id=?"
            args = (execution_id,)
        with self._read() as db:
            rows = db.execute(self._sql(sql), args).fetchall()
        return [dict(zip(_OPEN_TASK_KEYS, r, strict=True)) for r in rows]

    def open_tasks_of(self, flow_name: str | None = None) -> list[dict[str, Any]]:
        """Open tasks of running executions, oldest first, with their flow and execution names."""
        sql = ("SELECT e.flow_name, e.name, t.execution_id, t.task_id, t.token, t.step, t.action, t.mode, t.opened "
               "FROM open_tasks t JOIN executions e ON e.id = t.execution_id WHERE e.status = 'Running'")
        args: tuple[Any, ...] = ()
        if flow_name:
            sql += " AND e.flow_name = ?"
            args = (flow_name,)
        with self._read() as db:
            rows = db.execute(self._sql(sql + " ORDER BY t.opened"), args).fetchall()
        keys = ("flow_name", "execution_name", "execution_id", "task_id", "token", "step", "action", "mode", "opened")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- what tasks printed (function stdout/stderr, bounded by the function runtime) ----------
    def put_task_log(self, execution_id: int, task_id: str, stdout: str, stderr: str, now: float) -> None:
        with self._tx() as db:
            db.execute(self._sql("INSERT INTO task_logs VALUES (?, ?, ?, ?, ?) ON CONFLICT (execution_id, task_id) "
                                 "DO UPDATE SET time=excluded.time, stdout=excluded.stdout, stderr=excluded.stderr"),
                       (execution_id, task_id, now, self._text(stdout), self._text(stderr)))

    def task_logs(self, execution_id: int) -> list[dict[str, Any]]:
        """Each task's logs in order, with the step it belongs to (from its TaskScheduled event)."""
        with self._read() as db:
            rows = db.execute(self._sql(
                "SELECT l.task_id, COALESCE(h.step_name, ''), l.time, l.stdout, l.stderr FROM task_logs l "
                "LEFT JOIN history h ON h.execution_id = l.execution_id AND h.event_id = CAST(l.task_id AS BIGINT) "
                "WHERE l.execution_id=? ORDER BY CAST(l.task_id AS BIGINT)"), (execution_id,)).fetchall()
        return [{"task_id": r[0], "step": r[1], "time": r[2], "stdout": r[3], "stderr": r[4]} for r in rows]

    def current_steps(self, execution_id: int) -> list[str]:
        """Steps entered and not yet exited, in the order they were entered (innermost last)."""
        with self._read() as db:
            rows = db.execute(self._sql(
                "SELECT step_name FROM history WHERE execution_id=? AND type IN ('StepEntered', 'StepExited') "
                "GROUP BY step_name HAVING SUM(CASE type WHEN 'StepEntered' THEN 1 ELSE -1 END) > 0 "
                "ORDER BY MAX(event_id)"), (execution_id,)).fetchall()
        return [r[0] for r in rows]
