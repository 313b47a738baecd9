"""Heartbeats and correlation keys of open callback tasks. Both stores.

A heartbeat moves the due time of the task's heartbeat timer (an inbox row, ``hb:<task>:<seconds>``)
to now + the window the timer's id carries: one UPDATE, with no read of the execution's state.
A correlation key is claimed by the task it names when the task is dispatched; a claim left by a
task that has since closed is taken over, so keys need no clean-up when tasks end.
"""

from __future__ import annotations

from stateway.store._sql_base import SqlStore

HEARTBEAT_PREFIX = "hb:"


class CallbacksMixin(SqlStore):
    def heartbeat_task(self, execution_id: int, task_id: str, now: float) -> float | None:
        """Push the task's heartbeat deadline to ``now`` + its window: the window (0 for an open task
        without one), or None when the task is not open."""
        return self.heartbeat_tasks([(execution_id, task_id)], now)[0]

    def heartbeat_tasks(self, tasks: list[tuple[int, str]], now: float) -> list[float | None]:
        """``heartbeat_task`` for many tasks in one transaction (one commit for a burst of heartbeats)."""
        windows: list[float | None] = []
        with self._tx() as db:
            for execution_id, task_id in tasks:
                prefix = f"{HEARTBEAT_PREFIX}{task_id}:"
                row = db.execute(self._sql(
                    "UPDATE inbox SET due = ? + CAST(substr(timer_id, ?) AS DOUBLE PRECISION) "
                    "WHERE execution_id = ? AND timer_id LIKE ? RETURNING timer_id"),
                    (now, len(prefix) + 1, execution_id, prefix + "%")).fetchone()
                if row is not None:
                    windows.append(float(row[0][len(prefix):]))
                    continue
                is_open = db.execute(self._sql("SELECT 1 FROM open_tasks WHERE execution_id=? AND task_id=?"),
                                     (execution_id, task_id)).fetchone() is not None
                windows.append(0.0 if is_open else None)
        return windows

    def claim_task_key(self, flow_name: str, key: str, execution_id: int, execution_name: str,
                       task_id: str) -> tuple[int, str] | None:
        """Claim ``key`` among ``flow_name``'s open tasks: None when this task holds it now, else the
        (execution id, task id) of the open task that does."""
        with self._tx() as db:
            if db.execute(self._sql("INSERT INTO task_keys VALUES (?, ?, ?, ?, ?) ON CONFLICT (flow_name, key) "
                                    "DO NOTHING"), (flow_name, key, execution_id, execution_name, task_id)
                          ).rowcount == 1:
                return None
            holder = db.execute(self._sql("SELECT execution_id, task_id FROM task_keys WHERE flow_name=? AND key=?"
                                          + self._FOR_UPDATE), (flow_name, key)).fetchone()
            if holder is not None and (int(holder[0]), str(holder[1])) == (execution_id, task_id):
                return None  # dispatched again (after a crash): still ours
            if holder is not None and db.execute(self._sql(
                    "SELECT 1 FROM open_tasks WHERE execution_id=? AND task_id=?"), (holder[0], holder[1])).fetchone():
                return int(holder[0]), str(holder[1])
            db.execute(self._sql("UPDATE task_keys SET execution_id=?, execution_name=?, task_id=? "
                                 "WHERE flow_name=? AND key=?"), (execution_id, execution_name, task_id, flow_name, key))
            return None

    def task_by_key(self, flow_name: str, key: str) -> tuple[int, str, str, bool] | None:
        """(execution id, execution name, task id, still open) of the task that claimed ``key`` last."""
        with self._read() as db:
            row = db.execute(self._sql("SELECT k.execution_id, k.execution_name, k.task_id, t.task_id FROM task_keys k "
                                       "LEFT JOIN open_tasks t ON t.execution_id = k.execution_id AND "
                                       "t.task_id = k.task_id WHERE k.flow_name=? AND k.key=?"),
                             (flow_name, key)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]), row[3] is not None)

    def task_keys_of(self, execution_ids: list[int]) -> dict[tuple[int, str], str]:
        """The keys of these executions' tasks, for listings."""
        if not execution_ids:
            return {}
        marks = ", ".join("?" for _ in execution_ids)
        with self._read() as db:
            rows = db.execute(self._sql(f"SELECT execution_id, task_id, key FROM task_keys WHERE execution_id IN "
                                        f"({marks})"), tuple(execution_ids)).fetchall()
        return {(int(r[0]), str(r[1])): str(r[2]) for r in rows}
