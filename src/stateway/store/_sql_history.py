"""An execution's history: pages of events for the API, and the outline the console folds into
what happened to each state. Both stores."""

from __future__ import annotations

from typing import Any

from stateway.store._sql_base import SqlStore
from stateway.store._sql_rows import HISTORY_COLUMNS, history_event


class HistoryMixin(SqlStore):
    def history(self, execution_id: int, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(self._sql(f"SELECT {HISTORY_COLUMNS} FROM history WHERE execution_id=? AND event_id>? "
                                        "ORDER BY event_id LIMIT ?"), (execution_id, after, limit)).fetchall()
        return [history_event(r) for r in rows]

    def history_outline(self, execution_id: int, after: int = 0) -> list[tuple[Any, ...]]:
        """The events after ``after`` without their detail, except one flag that says what happened to
        a step: (event_id, type, step_name, time, schedule_event_id, mark); mark is 1 for a TaskScheduled
        waiting for a custom callback, a StepFailed that will be retried, and a StepExited with an output
        (after a failure: the failure was caught). Details are compact JSON (orjson), so the callback and
        the exit are told apart without parsing: the history of a 25,000-event execution is read whole."""
        with self._read() as db:
            return db.execute(self._sql(
                f"SELECT event_id, type, step_name, time, schedule_event_id, {self._OUTLINE_MARK} "
                "FROM history WHERE execution_id=? AND event_id>? ORDER BY event_id"), (execution_id, after)).fetchall()

    def history_events(self, execution_id: int, event_ids: list[int]) -> list[dict[str, Any]]:
        if not event_ids:
            return []
        clause, arg = self._in("event_id", event_ids)
        with self._read() as db:
            rows = db.execute(self._sql(f"SELECT {HISTORY_COLUMNS} FROM history WHERE execution_id=? AND {clause} "
                                        "ORDER BY event_id"), (execution_id, arg)).fetchall()
        return [history_event(r) for r in rows]

    def history_count(self, execution_id: int) -> int:
        with self._read() as db:
            row = db.execute(self._sql("SELECT MAX(event_id) FROM history WHERE execution_id=?"),
                             (execution_id,)).fetchone()
        return int(row[0] or 0) if row else 0
