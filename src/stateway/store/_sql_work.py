"""Due work and what is done with it, as far as both stores do it alike: inbox events, the fenced
commit of one decision, leases renewed and released, the outbox, the cancel sweep's orphaned tasks.
Claims and the batched commit differ (row locks, arrays) and stay with each store."""

from __future__ import annotations

from typing import Any

from stateway.engine import Decision
from stateway.engine.messages import Cancel
from stateway.jsontext import dumps, loads
from stateway.store._sql_base import SqlStore
from stateway.store.contract import DecisionCommit, LeaseLost, Outbox

_CLAIMED = ("executions", "outbox", "invocations")


class WorkMixin(SqlStore):
    def commit_batch(self, commits: list[DecisionCommit], now: float, *, owner: str | None = None,
                     lease: float = 0.0) -> list[Outbox | None]:
        raise NotImplementedError

    def due_executions(self, now: float, limit: int) -> list[int]:
        with self._read() as db:
            rows = db.execute(self._sql("SELECT execution_id FROM inbox WHERE due <= ? GROUP BY execution_id "
                                        "ORDER BY MIN(id) LIMIT ?"), (now, limit)).fetchall()
        return [r[0] for r in rows]

    def due_events(self, execution_id: int, now: float) -> list[tuple[int, dict[str, Any]]]:
        with self._read() as db:
            rows = db.execute(self._sql("SELECT id, event FROM inbox WHERE execution_id=? AND due <= ? "
                                        "ORDER BY due, id"), (execution_id, now)).fetchall()
        return [(r[0], loads(r[1])) for r in rows]

    def next_due(self) -> float | None:
        with self._read() as db:
            row = db.execute("SELECT MIN(due) FROM inbox").fetchone()
        return row[0] if row else None

    def add_event(self, execution_id: int, event: dict[str, Any], due: float = 0.0,
                  outbox_done: int | None = None) -> None:
        with self._tx() as db:
            db.execute(self._sql("INSERT INTO inbox (execution_id, due, event) VALUES (?, ?, ?)"),
                       (execution_id, due, dumps(event)))
            if outbox_done is not None:
                db.execute(self._sql("DELETE FROM outbox WHERE id=?"), (outbox_done,))
            self._notify(db, "work")

    def commit(self, execution_id: int, consumed: list[int], decision: Decision, now: float,
               extra_commands: list[dict[str, Any]], *, owner: str | None = None,
               lease: float = 0.0) -> Outbox:
        """One transaction: the new state, its history, timers, open tasks and outbox commands.
        With ``owner``, fenced: only while that owner's claim holds, and it releases the claim;
        the outbox rows are claimed by ``owner`` for ``lease`` seconds."""
        done = self.commit_batch([DecisionCommit(execution_id, consumed, decision, extra_commands)], now,
                                 owner=owner, lease=lease)[0]
        if done is None:
            raise LeaseLost(f"execution {execution_id} is no longer claimed by {owner}")
        return done

    def append_history(self, execution_id: int, history: list[dict[str, Any]], now: float, *, owner: str,
                       lease: float) -> bool:
        """A turn whose state stays in its worker's memory: only its history is written, fenced by the
        claim, which is kept and extended (False, and nothing written, when the claim is lost). An
        event written again after a crash replaces the first writing."""
        fence = "UPDATE executions SET lease_until=? WHERE id=? AND owner=?" + (" AND lease_until>?" if self.shared
                                                                                else "")
        args = (now + lease, execution_id, owner, now) if self.shared else (now + lease, execution_id, owner)
        with self._tx() as db:
            if db.execute(self._sql(fence), args).rowcount == 0:
                return False
            if history:
                db.executemany(self._sql(
                    "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (execution_id, event_id) DO UPDATE SET "
                    "type=excluded.type, step_name=excluded.step_name, time=excluded.time, "
                    "schedule_event_id=excluded.schedule_event_id, detail=excluded.detail"),
                    [(execution_id, h["EventId"], h["Type"], h["StepName"], h["Time"], h["ScheduleEventId"],
                      dumps(h["EventDetail"])) for h in history])
        return True

    def release_execution(self, execution_id: int, owner: str) -> None:
        with self._tx() as db:
            db.execute(self._sql("UPDATE executions SET owner=NULL, lease_until=NULL WHERE id=? AND owner=?"),
                       (execution_id, owner))

    def renew_claims(self, owner: str, now: float, lease: float) -> int:
        """Extend the leases ``owner`` still holds; one that ran out stays lost."""
        renewed = 0
        with self._tx() as db:
            for table in _CLAIMED:
                renewed += db.execute(self._sql(f"UPDATE {table} SET lease_until=? WHERE owner=? AND lease_until>?"),
                                      (now + lease, owner, now)).rowcount
        return renewed

    def release_claims(self, owner: str | None = None) -> None:
        """Drop ``owner``'s claims. Every claim when None, unless other processes share the
        database: a process opening its own SQLite file knows any claim in it belonged to a process
        that is gone, while on a shared database other workers' claims are theirs until they expire."""
        if owner is None and self.shared:
            return
        where, args = ("owner=?", (owner,)) if owner is not None else ("owner IS NOT NULL", ())
        with self._tx() as db:
            for table in ("executions", "outbox"):
                db.execute(self._sql(f"UPDATE {table} SET owner=NULL, lease_until=NULL WHERE {where}"), args)
            db.execute(self._sql(f"UPDATE invocations SET owner=NULL, lease_until=NULL, status='Queued' "
                                 f"WHERE status='Running' AND {where}"), args)

    def pending_outbox(self) -> list[tuple[int, int, dict[str, Any]]]:
        with self._read() as db:
            rows = db.execute("SELECT id, execution_id, command FROM outbox ORDER BY id").fetchall()
        return [(r[0], r[1], loads(r[2])) for r in rows]

    def outbox_done(self, outbox_id: int) -> None:
        with self._tx() as db:
            db.execute(self._sql("DELETE FROM outbox WHERE id=?"), (outbox_id,))

    def close_orphan_tasks(self, owner: str | None = None, lease_until: float | None = None
                           ) -> list[tuple[int, dict[str, Any]]]:
        """Open tasks of ended executions: close them and queue their cancel (claimed by ``owner``),
        in one transaction. DELETE ... RETURNING: of two workers sweeping at once, each task goes to
        one of them."""
        sql = self._sql
        with self._tx() as db:
            rows = db.execute(
                "DELETE FROM open_tasks WHERE execution_id IN "
                "(SELECT id FROM executions WHERE status NOT IN ('Running', 'Starting')) "
                "RETURNING execution_id, task_id, step, action, mode").fetchall()
            out = []
            for execution_id, task_id, step, action, mode in rows:
                command = Cancel(task_id, action, mode, step, "sweep: its execution has ended").to_wire()
                row = db.execute(sql("INSERT INTO outbox (execution_id, command, owner, lease_until) "
                                     "VALUES (?, ?, ?, ?) RETURNING id"),
                                 (execution_id, dumps(command), owner, lease_until)).fetchone()
                out.append((row[0], {**command, "execution_id": execution_id}))
            return out

    def work_stats(self, now: float) -> dict[str, float]:
        """Gauges: outbox depth, how late the oldest due timer is (due-work lag, seconds; events
        written "due now" carry due=0, which says nothing about lateness), queue depth, and the task
        attempts waiting for their result (running, or waiting for a callback)."""
        with self._read() as db:
            outbox, oldest, messages, tasks = db.execute(self._sql(
                "SELECT (SELECT COUNT(*) FROM outbox), (SELECT MIN(due) FROM inbox WHERE due > 0 AND due <= ?), "
                "(SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM open_tasks)"), (now,)).fetchone()
        return {"outbox_depth": float(outbox), "due_lag": now - oldest if oldest else 0.0,
                "queue_depth": float(messages), "tasks_open": float(tasks)}
