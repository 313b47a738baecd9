"""The SQLite store: WAL, one connection guarded by a lock (one process owns the database). What it
does as PostgreSQL does is ``SharedSql``'s; here are the connection, migrations, claims and the
commit of decisions."""

from __future__ import annotations

import collections
import os
import sqlite3
import threading
import time
from collections.abc import Collection
from typing import Any

from stateway.jsontext import dumps as _dumps
from stateway.jsontext import loads
from stateway.store._schema import MIGRATIONS
from stateway.store._sql_rows import EXEC_COLUMNS, execution_row
from stateway.store._sql_shared import SharedSql
from stateway.store._types import ExecutionRow
from stateway.store.contract import DecisionCommit, ResultGateClosed

_GATE_CLOSED: Any = object()


class _Locked:
    """The connection under the store's lock; one instance serves every call (it keeps no state of
    its own), and costs less than a generator context manager on the hot reads."""

    __slots__ = ("_db", "_lock")

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        return self._db

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class _Transaction(_Locked):
    """A write transaction under the store's lock; BEGIN IMMEDIATE takes the file's write lock at once.
    ``store``'s ``_write_begun``/``_write_ended`` are told (a request's nonce rides on its write)."""

    __slots__ = ("_store",)

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, store: SQLiteStore) -> None:
        super().__init__(db, lock)
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        try:
            self._store._write_begun(self._db)
        except BaseException:
            try:
                self._db.execute("ROLLBACK")
            finally:
                self._store._write_ended(False)
                self._lock.release()
            raise
        return self._db

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        committed = False
        try:
            self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
            committed = exc_type is None
        finally:
            self._store._write_ended(committed)
            self._lock.release()


class SQLiteStore(SharedSql):
    shared = False  # one process owns the file: the runtime wakes itself, no notices to subscribe to

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.RLock()
        self._reader = _Locked(self._db, self._lock)
        self._writer = _Transaction(self._db, self._lock, self)
        self.takeovers: collections.Counter[str] = collections.Counter()  # one process: never any
        self.redispatched: dict[tuple[int, str], int] = {}
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._migrate()
        # outside the numbered migrations on purpose: created where missing, whatever order other
        # additions to the schema land in
        self._db.execute("CREATE TABLE IF NOT EXISTS task_logs (execution_id INTEGER NOT NULL, task_id TEXT NOT NULL, "
                         "time REAL NOT NULL, stdout TEXT NOT NULL, stderr TEXT NOT NULL, "
                         "PRIMARY KEY (execution_id, task_id)) WITHOUT ROWID")

    @classmethod
    def in_memory(cls) -> SQLiteStore:
        return cls(":memory:")

    def ping(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1").fetchone() == (1,)

    def subscribe(self, callback: Any) -> None:
        """Nothing to listen to: no other process writes this database."""

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _read(self) -> _Locked:
        return self._reader

    def _tx(self) -> _Transaction:
        return self._writer

    def _migrate(self) -> None:
        with self._lock:
            have = self._db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
            version = 0
            if have:
                row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(row[0]) if row else 0
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript("BEGIN;" + script + "COMMIT;")
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(number),))

    # -- decisions ------------------------------------------------------------------------------
    def commit_batch(self, commits: list[DecisionCommit], now: float, *, owner: str | None = None,
                     lease: float = 0.0) -> list[list[tuple[int, dict[str, Any]]] | None]:
        with self._tx() as db:
            done = [self._write_decision(db, c, now, owner, lease) for c in commits]
            closed = [c.execution_id for c, d in zip(commits, done, strict=True) if d is _GATE_CLOSED]
            if closed:
                raise ResultGateClosed(closed)  # rolls the whole transaction back
            return done

    def _write_decision(self, db: sqlite3.Connection, commit: DecisionCommit, now: float, owner: str | None,
                        lease: float) -> list[tuple[int, dict[str, Any]]] | None:
        execution_id, decision = commit.execution_id, commit.decision
        st = decision.state
        ended = decision.ended
        outbox: list[tuple[int, dict[str, Any]]] = []
        # fenced by owner only: one process owns a SQLite file (the engine lock), so a lease that
        # ran out while the machine was too busy to renew it was taken by nobody else
        if owner is not None and db.execute(
                "UPDATE executions SET owner=NULL, lease_until=NULL WHERE id=? AND owner=?",
                (execution_id, owner)).rowcount == 0:
            return None
        for task_id in commit.gated_tasks:  # the one gate of a task's completion, as complete_task's
            if db.execute("DELETE FROM open_tasks WHERE execution_id=? AND task_id=?",
                          (execution_id, task_id)).rowcount == 0:
                return _GATE_CLOSED
        if commit.outbox_done:
            db.executemany("DELETE FROM outbox WHERE id=?", [(i,) for i in commit.outbox_done])
        if commit.consumed:
            db.executemany("DELETE FROM inbox WHERE id=?", [(i,) for i in commit.consumed])
        if decision.history:
            db.executemany(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(execution_id, h["EventId"], h["Type"], h["StepName"], h["Time"], h["ScheduleEventId"],
                  _dumps(h["EventDetail"])) for h in decision.history])
        if decision.cancelled_timers and ended is None:  # an ended one's timers are all deleted below
            db.executemany("DELETE FROM inbox WHERE execution_id=? AND timer_id=?",
                           [(execution_id, t) for t in decision.cancelled_timers])
        if decision.timers and ended is None:
            db.executemany("INSERT INTO inbox (execution_id, due, timer_id, event) VALUES (?, ?, ?, ?)",
                           [(execution_id, t["due"], t["timer"], _dumps(t["event"])) for t in decision.timers])
        if decision.closed_tasks:
            db.executemany("DELETE FROM open_tasks WHERE execution_id=? AND task_id=?",
                           [(execution_id, t) for t in decision.closed_tasks])
        if decision.opened_tasks:
            db.executemany("INSERT OR REPLACE INTO open_tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [(execution_id, t["task"], t["token"], t["state"], t["step"], t["action"], t["mode"],
                             now) for t in decision.opened_tasks])
        for command in [*decision.commands, *commit.extra_commands]:
            cur = db.execute("INSERT INTO outbox (execution_id, command, owner, lease_until) VALUES (?, ?, ?, ?)",
                             (execution_id, _dumps(command), owner, now + lease if owner else None))
            outbox.append((cur.lastrowid or 0, command))
        if ended is not None:
            db.execute("UPDATE executions SET status=?, output=?, error=?, cause=?, stopped=?, state=? WHERE id=?",
                       (ended["status"], None if ended["output"] is None else _dumps(ended["output"]),
                        ended["error"], ended["cause"], now, _dumps(st), execution_id))
            # nothing more can happen to it: leftover timers would only wake it for nothing
            db.execute("DELETE FROM inbox WHERE execution_id=? AND timer_id IS NOT NULL", (execution_id,))
        else:
            db.execute("UPDATE executions SET state=? WHERE id=?", (_dumps(st), execution_id))
        return outbox

    def due_events_of(self, execution_ids: list[int], now: float) -> dict[int, list[tuple[int, dict[str, Any]]]]:
        found: dict[int, list[tuple[int, dict[str, Any]]]] = {x: [] for x in execution_ids}
        clause, arg = self._in("execution_id", execution_ids)
        with self._read() as db:  # one statement for the batch: a Map's children come by the dozen
            rows = db.execute(f"SELECT execution_id, id, event FROM inbox WHERE {clause} AND due <= ? "
                              "ORDER BY execution_id, due, id", (arg, now)).fetchall()
        for x, inbox_id, event in rows:
            found[x].append((inbox_id, loads(event)))
        return found

    def get_executions(self, execution_ids: list[int]) -> dict[int, ExecutionRow]:
        clause, arg = self._in("id", execution_ids)
        with self._read() as db:
            rows = db.execute(f"SELECT {EXEC_COLUMNS} FROM executions WHERE {clause}", (arg,)).fetchall()
        return {r.id: r for r in map(execution_row, rows)}

    def release_executions(self, execution_ids: list[int], owner: str) -> None:
        with self._tx() as db:
            db.executemany("UPDATE executions SET owner=NULL, lease_until=NULL WHERE id=? AND owner=?",
                           [(x, owner) for x in execution_ids])

    # -- claims ---------------------------------------------------------------------------------
    def claim_executions(self, owner: str, now: float, limit: int, lease: float,
                         exclude: Collection[int] = (), also: Collection[int] = ()) -> list[int]:
        """Executions with due events that nobody holds (or whose holder's lease ran out), oldest
        event first, claimed by ``owner`` until ``now + lease``; none of ``exclude``."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT i.execution_id FROM inbox i JOIN executions e ON e.id = i.execution_id "
                "WHERE i.due <= ? AND (e.owner IS NULL OR e.lease_until <= ? OR e.owner = ?) "
                "GROUP BY i.execution_id ORDER BY MIN(i.id) LIMIT ?",
                (now, now, owner, limit + len(exclude))).fetchall()
            ids = [r[0] for r in rows if r[0] not in exclude][:limit]
            if also:
                more = set(also) - set(ids) - set(exclude)
                ids += [r[0] for r in db.execute(
                    f"SELECT id FROM executions WHERE id IN ({','.join('?' * len(more))}) AND "
                    "(owner IS NULL OR lease_until <= ? OR owner = ?)", (*more, now, owner)).fetchall()] if more else []
            db.executemany("UPDATE executions SET owner=?, lease_until=? WHERE id=?",
                           [(owner, now + lease, i) for i in ids])
        return ids

    def claim_outbox(self, owner: str, now: float, lease: float, limit: int = 100
                     ) -> list[tuple[int, int, dict[str, Any]]]:
        """Outbox commands nobody is dispatching (their claim ran out): ours now."""
        with self._tx() as db:
            rows = db.execute("SELECT id, execution_id, command, dispatches FROM outbox "
                              "WHERE owner IS NULL OR lease_until <= ? ORDER BY id LIMIT ?", (now, limit)).fetchall()
            db.executemany("UPDATE outbox SET owner=?, lease_until=?, dispatches=dispatches + 1 WHERE id=?",
                           [(owner, now + lease, r[0]) for r in rows])
        claimed = [(r[0], r[1], loads(r[2])) for r in rows]
        for (_, execution_id, command), row in zip(claimed, rows, strict=True):
            self._remember_redispatch(execution_id, command, row[3] + 1)
        return claimed

    def claim_invocation(self, owner: str = "", now: float | None = None, lease: float = 30.0
                         ) -> dict[str, Any] | None:
        """The oldest queued invocation, or a running one whose worker's lease ran out (it is run
        again: at least once)."""
        now = time.time() if now is None else now
        with self._tx() as db:
            row = db.execute("SELECT id, function, event, execution_id, task_id, notify, dispatches FROM invocations "
                             "WHERE status='Queued' OR (status='Running' AND lease_until <= ?) "
                             "ORDER BY created LIMIT 1", (now,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE invocations SET status='Running', owner=?, lease_until=?, dispatches=dispatches + 1 "
                       "WHERE id=?", (owner or None, now + lease, row[0]))
        return {"id": row[0], "function": row[1], "event": loads(row[2]), "execution_id": row[3],
                "task_id": row[4], "notify": bool(row[5]), "dispatches": row[6] + 1}

    def requeue_running_invocations(self) -> int:
        """After a restart, invocations that were running died with the old process: run them again."""
        with self._tx() as db:
            return db.execute("UPDATE invocations SET status='Queued', owner=NULL, lease_until=NULL "
                              "WHERE status='Running'").rowcount
