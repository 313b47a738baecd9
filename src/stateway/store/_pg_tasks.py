"""PostgreSQL side of what tasks printed and where executions are: the same methods as
``SQLiteStore``'s (``put_task_log``, ``task_logs``, ``current_steps``, ``open_tasks_of``)."""

from __future__ import annotations

from typing import Any


class TaskViewsMixin:
    """Mixed into ``PostgresStore``; relies on its ``_tx``."""

    def put_task_log(self, execution_id: int, task_id: str, stdout: str, stderr: str, now: float) -> None:
        with self._tx() as db:  # type: ignore[attr-defined]
            db.execute("INSERT INTO task_logs VALUES (%s, %s, %s, %s, %s) ON CONFLICT (execution_id, task_id) "
                       "DO UPDATE SET time=excluded.time, stdout=excluded.stdout, stderr=excluded.stderr",
                       (execution_id, task_id, now, stdout.replace("\x00", ""), stderr.replace("\x00", "")))

    def task_logs(self, execution_id: int) -> list[dict[str, Any]]:
        with self._tx() as db:  # type: ignore[attr-defined]
            rows = db.execute(
                "SELECT l.task_id, COALESCE(h.step_name, ''), l.time, l.stdout, l.stderr FROM task_logs l "
                "LEFT JOIN history h ON h.execution_id = l.execution_id AND h.event_id = CAST(l.task_id AS BIGINT) "
                "WHERE l.execution_id=%s ORDER BY CAST(l.task_id AS BIGINT)", (execution_id,)).fetchall()
        return [{"task_id": r[0], "step": r[1], "time": r[2], "stdout": r[3], "stderr": r[4]} for r in rows]

    def current_steps(self, execution_id: int) -> list[str]:
        with self._tx() as db:  # type: ignore[attr-defined]
            rows = db.execute(
                "SELECT step_name FROM history WHERE execution_id=%s AND type IN ('StepEntered', 'StepExited') "
                "GROUP BY step_name HAVING SUM(CASE type WHEN 'StepEntered' THEN 1 ELSE -1 END) > 0 "
                "ORDER BY MAX(event_id)", (execution_id,)).fetchall()
        return [r[0] for r in rows]

    def open_tasks_of(self, flow_name: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT e.flow_name, e.name, t.execution_id, t.task_id, t.token, t.step, t.action, t.mode, t.opened "
               "FROM open_tasks t JOIN executions e ON e.id = t.execution_id WHERE e.status = 'Running'")
        args: tuple[Any, ...] = ()
        if flow_name:
            sql += " AND e.flow_name = %s"
            args = (flow_name,)
        with self._tx() as db:  # type: ignore[attr-defined]
            rows = db.execute(sql + " ORDER BY t.opened", args).fetchall()
        keys = ("flow_name", "execution_name", "execution_id", "task_id", "token", "step", "action", "mode", "opened")
        return [dict(zip(keys, r, strict=True)) for r in rows]
