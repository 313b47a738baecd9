"""The SQLite store: WAL, one connection guarded by a lock (one process owns the database)."""

from __future__ import annotations

import collections
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from stateway.engine import Decision
from stateway.jsontext import dumps as _dumps
from stateway.jsontext import loads
from stateway.store._errors import (
    ExecutionAlreadyExists,
    ExecutionNotExists,
    FlowAlreadyExists,
    FlowNotExists,
    ScheduleAlreadyExists,
    ScheduleNotExists,
)
from stateway.store._schema import MIGRATIONS
from stateway.store._sql_maprun import MapRunsMixin
from stateway.store._sql_nonces import NoncesMixin
from stateway.store._sql_status import StatusMixin
from stateway.store._sql_versions import VersionsMixin
from stateway.store._types import ExecutionRow
from stateway.store.contract import DecisionCommit, LeaseLost

_EXEC_COLUMNS = ("id, flow_name, name, status, input, output, error, cause, started, stopped, state, definition, "
                 "parent_id, parent_task, callback_token, flow_version, qualifier, map_run")


def _loads(text: str | None) -> Any:
    return None if text is None else loads(text)


class SQLiteStore(VersionsMixin, MapRunsMixin, NoncesMixin, StatusMixin):
    shared = False  # one process owns the file: the runtime wakes itself, no notices to subscribe to

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.RLock()
        self.takeovers: collections.Counter[str] = collections.Counter()  # one process: never any
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

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

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

    # -- meta -------------------------------------------------------------------------------
    def get_secret(self) -> bytes:
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='secret'").fetchone()
            if row is None:
                value = secrets.token_hex(32)
                db.execute("INSERT INTO meta VALUES ('secret', ?)", (value,))
                return bytes.fromhex(value)
            return bytes.fromhex(row[0])

    # -- flows ------------------------------------------------------------------------------
    def put_flow(self, name: str, definition: str, meta: dict[str, Any], *, replace: bool) -> dict[str, Any]:
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT id, created, meta FROM flows WHERE name=?", (name,)).fetchone()
            if row is not None and not replace:
                raise FlowAlreadyExists(f"the flow {name!r} already exists")
            if row is None and replace == "update":
                raise FlowNotExists(f"the flow {name!r} does not exist")
            flow_id = row[0] if row else str(uuid.uuid4())
            created = row[1] if row else now
            merged = {**(_loads(row[2]) if row else {}), **meta}
            db.execute("INSERT OR REPLACE INTO flows VALUES (?, ?, ?, ?, ?, ?)",
                       (name, flow_id, definition, _dumps(merged), created, now))
        return self.get_flow(name)

    def get_flow(self, name: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT name, id, definition, meta, created, modified FROM flows WHERE name=?",
                                   (name,)).fetchone()
        if row is None:
            raise FlowNotExists(f"the flow {name!r} does not exist")
        return {"name": row[0], "id": row[1], "definition": row[2], "meta": _loads(row[3]), "created": row[4],
                "modified": row[5]}

    def list_flows(self) -> list[dict[str, Any]]:
        with self._lock:
            names = [r[0] for r in self._db.execute("SELECT name FROM flows ORDER BY created, name")]
        return [self.get_flow(n) for n in names]

    def delete_flow(self, name: str) -> None:
        with self._tx() as db:
            row = db.execute("SELECT id FROM flows WHERE name=?", (name,)).fetchone()
            if row is None:
                raise FlowNotExists(f"the flow {name!r} does not exist")
            db.execute("DELETE FROM flows WHERE name=?", (name,))
            self._delete_versions_of(db, row[0])

    # -- executions -------------------------------------------------------------------------
    def create_execution(self, flow_name: str, name: str, input_: Any, now: float, *, parent_id: int | None = None,
                         parent_task: str | None = None, callback_token: str | None = None,
                         definition: str | None = None, flow_version: str = "", qualifier: str = "",
                         map_run: str = "", state: dict[str, Any] | None = None) -> tuple[ExecutionRow, bool]:
        """Insert the execution and its start event in one transaction. Same name still running:
        that execution, not created. Same name finished: ExecutionAlreadyExists. ``definition`` is a
        published version's snapshot to run instead of the flow's current definition."""
        with self._tx() as db:
            flow = db.execute("SELECT definition FROM flows WHERE name=?", (flow_name,)).fetchone()
            if flow is None:
                raise FlowNotExists(f"the flow {flow_name!r} does not exist")
            if definition is not None:
                flow = (definition,)
            row = db.execute("SELECT id, status FROM executions WHERE flow_name=? AND name=?",
                             (flow_name, name)).fetchone()
            if row is not None:
                if row[1] in ("Running", "Starting"):
                    existing = row[0]
                else:
                    raise ExecutionAlreadyExists(f"an execution named {name!r} of flow {flow_name!r} already ran")
            else:
                cur = db.execute(
                    "INSERT INTO executions (flow_name, name, status, input, started, definition, parent_id, "
                    "parent_task, callback_token, flow_version, qualifier, map_run, state) "
                    "VALUES (?, ?, 'Running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (flow_name, name, _dumps(input_), now, flow[0], parent_id, parent_task, callback_token,
                     flow_version, qualifier, map_run, None if state is None else _dumps(state)))
                existing = cur.lastrowid
                db.execute("INSERT INTO inbox (execution_id, due, event) VALUES (?, 0, ?)",
                           (existing, _dumps({"type": "start"})))
                return self._execution(db, existing), True
        return self.get_execution(existing), False

    def _execution(self, db: sqlite3.Connection, execution_id: int) -> ExecutionRow:
        row = db.execute(f"SELECT {_EXEC_COLUMNS} FROM executions WHERE id=?", (execution_id,)).fetchone()
        if row is None:
            raise ExecutionNotExists(f"no execution with id {execution_id}")
        return _row(row)

    def get_execution(self, execution_id: int) -> ExecutionRow:
        with self._lock:
            return self._execution(self._db, execution_id)

    def find_execution(self, flow_name: str, name: str) -> ExecutionRow | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_EXEC_COLUMNS} FROM executions WHERE flow_name=? AND name=?",
                                   (flow_name, name)).fetchone()
        return _row(row) if row else None

    def list_executions(self, flow_name: str | None = None, status: str | None = None,
                        parent_id: int | None = None, *, name_prefix: str = "", started_from: float | None = None,
                        started_to: float | None = None, offset: int = 0, limit: int = -1,
                        with_state: bool = True, flow_version: str | None = None,
                        qualifier: str | None = None, map_run: str | None = None) -> list[ExecutionRow]:
        """Executions in start order, filtered in SQL; ``with_state=False`` leaves the (large) state out."""
        clauses, args = [], []
        for column, value in (("flow_name", flow_name), ("status", status), ("parent_id", parent_id),
                              ("flow_version", flow_version), ("qualifier", qualifier), ("map_run", map_run)):
            if value is not None:
                clauses.append(f"{column}=?")
                args.append(value)
        if name_prefix:
            clauses.append("substr(name, 1, ?) = ?")
            args += [len(name_prefix), name_prefix]
        if started_from is not None:
            clauses.append("started >= ?")
            args.append(started_from)
        if started_to is not None:
            clauses.append("started <= ?")
            args.append(started_to)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        columns = _EXEC_COLUMNS if with_state else _EXEC_COLUMNS.replace(" state,", " NULL,")
        with self._lock:
            rows = self._db.execute(f"SELECT {columns} FROM executions {where} ORDER BY id LIMIT ? OFFSET ?",
                                    [*args, limit, offset]).fetchall()
        return [_row(r) for r in rows]

    def prune_ended_executions(self, ended_before: float, keep: int) -> int:
        """Delete ended executions (with their history and leftovers) stopped before ``ended_before``
        or beyond the newest ``keep``; running ones stay. For the in-memory Express store."""
        final = "('Succeeded', 'Failed', 'Stopped', 'TimedOut')"
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                f"SELECT id FROM executions WHERE status IN {final} AND (stopped < ? OR id NOT IN "
                f"(SELECT id FROM executions WHERE status IN {final} ORDER BY id DESC LIMIT ?))",
                (ended_before, keep))]
            for table, column in (("executions", "id"), ("history", "execution_id"), ("inbox", "execution_id"),
                                  ("open_tasks", "execution_id"), ("outbox", "execution_id")):
                db.executemany(f"DELETE FROM {table} WHERE {column}=?", [(i,) for i in ids])
        return len(ids)

    def count_executions(self, flow_name: str, status: str) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM executions WHERE flow_name=? AND status=?",
                                        (flow_name, status)).fetchone()[0])

    def child_execution(self, parent_id: int, parent_task: str) -> ExecutionRow | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_EXEC_COLUMNS} FROM executions WHERE parent_id=? AND parent_task=?",
                                   (parent_id, parent_task)).fetchone()
        return _row(row) if row else None

    # -- work -------------------------------------------------------------------------------
    def due_executions(self, now: float, limit: int) -> list[int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT execution_id FROM inbox WHERE due <= ? GROUP BY execution_id ORDER BY MIN(id) LIMIT ?",
                (now, limit)).fetchall()
        return [r[0] for r in rows]

    def due_events(self, execution_id: int, now: float) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT id, event FROM inbox WHERE execution_id=? AND due <= ? ORDER BY due, id",
                                    (execution_id, now)).fetchall()
        return [(r[0], loads(r[1])) for r in rows]

    def next_due(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(due) FROM inbox").fetchone()
        return row[0]

    def add_event(self, execution_id: int, event: dict[str, Any], due: float = 0.0) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO inbox (execution_id, due, event) VALUES (?, ?, ?)",
                       (execution_id, due, _dumps(event)))

    def commit(self, execution_id: int, consumed: list[int], decision: Decision, now: float,
               extra_commands: list[dict[str, Any]], *, owner: str | None = None,
               lease: float = 0.0) -> list[tuple[int, dict[str, Any]]]:
        """One transaction: the new state, its history, timers, open tasks and outbox commands.
        With ``owner``, fenced: only while that owner's claim holds, and it releases the claim;
        the outbox rows are claimed by ``owner`` for ``lease`` seconds."""
        done = self.commit_batch([DecisionCommit(execution_id, consumed, decision, extra_commands)], now,
                                 owner=owner, lease=lease)[0]
        if done is None:
            raise LeaseLost(f"execution {execution_id} is no longer claimed by {owner}")
        return done

    def commit_batch(self, commits: list[DecisionCommit], now: float, *, owner: str | None = None,
                     lease: float = 0.0) -> list[list[tuple[int, dict[str, Any]]] | None]:
        with self._tx() as db:
            return [self._write_decision(db, c, now, owner, lease) for c in commits]

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
        if commit.consumed:
            db.executemany("DELETE FROM inbox WHERE id=?", [(i,) for i in commit.consumed])
        if decision.history:
            db.executemany(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(execution_id, h["EventId"], h["Type"], h["StepName"], h["Time"], h["ScheduleEventId"],
                  _dumps(h["EventDetail"])) for h in decision.history])
        if decision.cancelled_timers:
            db.executemany("DELETE FROM inbox WHERE execution_id=? AND timer_id=?",
                           [(execution_id, t) for t in decision.cancelled_timers])
        if decision.timers:
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
        return {x: self.due_events(x, now) for x in execution_ids}  # in-process: no round trips to save

    def get_executions(self, execution_ids: list[int]) -> dict[int, ExecutionRow]:
        with self._lock:
            return {x: self._execution(self._db, x) for x in execution_ids}

    def release_executions(self, execution_ids: list[int], owner: str) -> None:
        with self._tx() as db:
            db.executemany("UPDATE executions SET owner=NULL, lease_until=NULL WHERE id=? AND owner=?",
                           [(x, owner) for x in execution_ids])

    def complete_task(self, execution_id: int, task_id: str, event: dict[str, Any]) -> bool:
        """Close an open task and queue its result, atomically. False when it was already closed."""
        with self._tx() as db:
            if db.execute("DELETE FROM open_tasks WHERE execution_id=? AND task_id=?",
                          (execution_id, task_id)).rowcount == 0:
                return False
            db.execute("INSERT INTO inbox (execution_id, due, event) VALUES (?, 0, ?)", (execution_id, _dumps(event)))
            return True

    def is_task_open(self, execution_id: int, task_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM open_tasks WHERE execution_id=? AND task_id=?",
                                    (execution_id, task_id)).fetchone() is not None

    def open_tasks(self, execution_id: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT execution_id, task_id, token, state, step, action, mode, opened FROM open_tasks"
        args: tuple[Any, ...] = ()
        if execution_id is not None:
            sql += " WHERE execution_id=?"
            args = (execution_id,)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        keys = ("execution_id", "task_id", "token", "state", "step", "action", "mode", "opened")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def orphan_executions(self) -> list[ExecutionRow]:
        """Running children whose parent execution has ended: the level-triggered cancel finds these."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join('c.' + c.strip() for c in _EXEC_COLUMNS.split(','))} FROM executions c "
                "JOIN executions p ON p.id = c.parent_id "
                "WHERE c.status='Running' AND p.status NOT IN ('Running', 'Starting')").fetchall()
        return [_row(r) for r in rows]

    def close_orphan_tasks(self, owner: str | None = None, lease_until: float | None = None
                           ) -> list[tuple[int, dict[str, Any]]]:
        """Open tasks of ended executions: close them and queue their cancel (claimed by ``owner``),
        in one transaction."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT t.execution_id, t.task_id, t.step, t.action, t.mode FROM open_tasks t "
                "JOIN executions e ON e.id = t.execution_id WHERE e.status NOT IN ('Running', 'Starting')").fetchall()
            out = []
            for execution_id, task_id, step, action, mode in rows:
                if db.execute("DELETE FROM open_tasks WHERE execution_id=? AND task_id=?",
                              (execution_id, task_id)).rowcount == 0:
                    continue
                command = {"kind": "cancel", "task": task_id, "action": action, "mode": mode, "step": step,
                           "reason": "sweep: its execution has ended"}
                cur = db.execute("INSERT INTO outbox (execution_id, command, owner, lease_until) VALUES (?, ?, ?, ?)",
                                 (execution_id, _dumps(command), owner, lease_until))
                out.append((cur.lastrowid or 0, {**command, "execution_id": execution_id}))
            return out

    def pending_outbox(self) -> list[tuple[int, int, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT id, execution_id, command FROM outbox ORDER BY id").fetchall()
        return [(r[0], r[1], loads(r[2])) for r in rows]

    def outbox_done(self, outbox_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE id=?", (outbox_id,))

    # -- claims ---------------------------------------------------------------------------------
    def claim_executions(self, owner: str, now: float, limit: int, lease: float,
                         exclude: Collection[int] = ()) -> list[int]:
        """Executions with due events that nobody holds (or whose holder's lease ran out), oldest
        event first, claimed by ``owner`` until ``now + lease``; none of ``exclude``."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT i.execution_id FROM inbox i JOIN executions e ON e.id = i.execution_id "
                "WHERE i.due <= ? AND (e.owner IS NULL OR e.lease_until <= ? OR e.owner = ?) "
                "GROUP BY i.execution_id ORDER BY MIN(i.id) LIMIT ?",
                (now, now, owner, limit + len(exclude))).fetchall()
            ids = [r[0] for r in rows if r[0] not in exclude][:limit]
            db.executemany("UPDATE executions SET owner=?, lease_until=? WHERE id=?",
                           [(owner, now + lease, i) for i in ids])
        return ids

    def release_execution(self, execution_id: int, owner: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE executions SET owner=NULL, lease_until=NULL WHERE id=? AND owner=?",
                       (execution_id, owner))

    def renew_claims(self, owner: str, now: float, lease: float) -> int:
        """Extend the leases ``owner`` still holds; one that ran out stays lost."""
        renewed = 0
        with self._tx() as db:
            for table in ("executions", "outbox", "invocations"):
                renewed += db.execute(f"UPDATE {table} SET lease_until=? WHERE owner=? AND lease_until>?",
                                      (now + lease, owner, now)).rowcount
        return renewed

    def release_claims(self, owner: str | None = None) -> None:
        """Drop ``owner``'s claims (every claim when None: a process opening its own SQLite file
        knows any claim in it belonged to a process that is gone)."""
        where, args = ("owner=?", (owner,)) if owner is not None else ("owner IS NOT NULL", ())
        with self._tx() as db:
            for table in ("executions", "outbox"):
                db.execute(f"UPDATE {table} SET owner=NULL, lease_until=NULL WHERE {where}", args)
            db.execute(f"UPDATE invocations SET owner=NULL, lease_until=NULL, status='Queued' "
                       f"WHERE status='Running' AND {where}", args)

    def claim_outbox(self, owner: str, now: float, lease: float, limit: int = 100
                     ) -> list[tuple[int, int, dict[str, Any]]]:
        """Outbox commands nobody is dispatching (their claim ran out): ours now."""
        with self._tx() as db:
            rows = db.execute("SELECT id, execution_id, command FROM outbox "
                              "WHERE owner IS NULL OR lease_until <= ? ORDER BY id LIMIT ?", (now, limit)).fetchall()
            db.executemany("UPDATE outbox SET owner=?, lease_until=? WHERE id=?",
                           [(owner, now + lease, r[0]) for r in rows])
        return [(r[0], r[1], loads(r[2])) for r in rows]

    def work_stats(self, now: float) -> dict[str, float]:
        """Gauges: outbox depth, and how late the oldest due event is (due-work lag, seconds)."""
        with self._lock:
            outbox = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            # timers only: events written "due now" carry due=0, which says nothing about lateness
            oldest = self._db.execute("SELECT MIN(due) FROM inbox WHERE due > 0 AND due <= ?", (now,)).fetchone()[0]
            messages = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        return {"outbox_depth": float(outbox), "due_lag": now - oldest if oldest else 0.0,
                "queue_depth": float(messages)}

    def history(self, execution_id: int, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, type, step_name, time, schedule_event_id, detail FROM history "
                "WHERE execution_id=? AND event_id>? ORDER BY event_id LIMIT ?", (execution_id, after, limit)).fetchall()
        return [{"EventId": r[0], "Type": r[1], "StepName": r[2], "Time": r[3], "ScheduleEventId": r[4],
                 "EventDetail": loads(r[5])} for r in rows]

    # -- console reads (paged listings; the console and its benchmarks use these) -----------------
    _SUMMARY_COLUMNS = "id, flow_name, name, status, started, stopped, error, cause, parent_id"

    def page_executions(self, *, flow_name: str | None = None, status: str | None = None, name_prefix: str = "",
                        started_from: float | None = None, started_to: float | None = None,
                        parent_id: int | None = None, before_id: int | None = None, after_id: int | None = None,
                        limit: int = 50) -> list[dict[str, Any]]:
        """Execution summaries (no input, output, state), newest first; keyset paging on the id:
        ``before_id`` gives the next older page, ``after_id`` the next newer one (still newest first)."""
        clauses, args = [], []
        for column, value in (("flow_name", flow_name), ("status", status), ("parent_id", parent_id)):
            if value is not None:
                clauses.append(f"{column}=?")
                args.append(value)
        if name_prefix and ord(name_prefix[-1]) < 0x10FFFF:  # a range on the name index, up to the next prefix
            clauses.append("name >= ? AND name < ?")
            args += [name_prefix, name_prefix[:-1] + chr(ord(name_prefix[-1]) + 1)]
        elif name_prefix:
            clauses.append("substr(name, 1, ?) = ?")
            args += [len(name_prefix), name_prefix]
        if started_from is not None:
            clauses.append("started >= ?")
            args.append(started_from)
        if started_to is not None:
            clauses.append("started <= ?")
            args.append(started_to)
        if before_id is not None:
            clauses.append("id < ?")
            args.append(before_id)
        if after_id is not None:
            clauses.append("id > ?")
            args.append(after_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "ASC" if after_id is not None and before_id is None else "DESC"
        with self._lock:
            rows = self._db.execute(f"SELECT {self._SUMMARY_COLUMNS} FROM executions {where} ORDER BY id {order} "
                                    "LIMIT ?", (*args, limit)).fetchall()
        if order == "ASC":
            rows.reverse()
        keys = [c.strip() for c in self._SUMMARY_COLUMNS.split(",")]
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def page_flows(self, query: str = "", offset: int = 0, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """Flows whose name contains ``query`` (no definitions), by name, and how many match."""
        where, args = "", []
        if query:
            where = "WHERE instr(lower(name), ?) > 0"
            args.append(query.lower())
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM flows {where}", args).fetchone()[0]
            rows = self._db.execute(f"SELECT name, meta, created, modified FROM flows {where} ORDER BY name "
                                    "LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
        return [{"name": r[0], "meta": loads(r[1]), "created": r[2], "modified": r[3]} for r in rows], total

    def history_outline(self, execution_id: int, after: int = 0) -> list[tuple[Any, ...]]:
        """The events after ``after`` without their detail, except one flag that says what happened to
        a step: (event_id, type, step_name, time, schedule_event_id, mark); mark is 1 for a TaskScheduled
        waiting for a custom callback, a StepFailed that will be retried, and a StepExited with an output
        (after a failure: the failure was caught). Details are compact JSON (orjson), so the callback and
        the exit are told apart without parsing: the history of a 25,000-event execution is read whole."""
        with self._lock:
            return self._db.execute(
                "SELECT event_id, type, step_name, time, schedule_event_id, CASE type "
                "WHEN 'TaskScheduled' THEN instr(detail, '\"taskMode\":\"WaitForCustomCallback\"') > 0 "
                "WHEN 'StepFailed' THEN json_extract(detail, '$.retry') IS NOT NULL "
                "WHEN 'StepExited' THEN detail <> '{}' ELSE 0 END "
                "FROM history WHERE execution_id=? AND event_id>? ORDER BY event_id", (execution_id, after)).fetchall()

    def history_events(self, execution_id: int, event_ids: list[int]) -> list[dict[str, Any]]:
        if not event_ids:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, type, step_name, time, schedule_event_id, detail FROM history WHERE execution_id=? "
                f"AND event_id IN ({', '.join('?' * len(event_ids))}) ORDER BY event_id",
                (execution_id, *event_ids)).fetchall()
        return [{"EventId": r[0], "Type": r[1], "StepName": r[2], "Time": r[3], "ScheduleEventId": r[4],
                 "EventDetail": loads(r[5])} for r in rows]

    def history_count(self, execution_id: int) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(event_id) FROM history WHERE execution_id=?", (execution_id,)).fetchone()
        return row[0] or 0

    # -- what tasks printed (function stdout/stderr, bounded by the function runtime) ----------
    def put_task_log(self, execution_id: int, task_id: str, stdout: str, stderr: str, now: float) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO task_logs VALUES (?, ?, ?, ?, ?)",
                       (execution_id, task_id, now, stdout, stderr))

    def task_logs(self, execution_id: int) -> list[dict[str, Any]]:
        """Each task's logs in order, with the step it belongs to (from its TaskScheduled event)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT l.task_id, COALESCE(h.step_name, ''), l.time, l.stdout, l.stderr FROM task_logs l "
                "LEFT JOIN history h ON h.execution_id = l.execution_id AND h.event_id = CAST(l.task_id AS INTEGER) "
                "WHERE l.execution_id=? ORDER BY CAST(l.task_id AS INTEGER)", (execution_id,)).fetchall()
        return [{"task_id": r[0], "step": r[1], "time": r[2], "stdout": r[3], "stderr": r[4]} for r in rows]

    def current_steps(self, execution_id: int) -> list[str]:
        """Steps entered and not yet exited, in the order they were entered (innermost last)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT step_name FROM history WHERE execution_id=? AND type IN ('StepEntered', 'StepExited') "
                "GROUP BY step_name HAVING SUM(CASE type WHEN 'StepEntered' THEN 1 ELSE -1 END) > 0 "
                "ORDER BY MAX(event_id)", (execution_id,)).fetchall()
        return [r[0] for r in rows]

    def open_tasks_of(self, flow_name: str | None = None) -> list[dict[str, Any]]:
        """Open tasks of running executions, oldest first, with their flow and execution names."""
        sql = ("SELECT e.flow_name, e.name, t.execution_id, t.task_id, t.token, t.step, t.action, t.mode, t.opened "
               "FROM open_tasks t JOIN executions e ON e.id = t.execution_id WHERE e.status = 'Running'")
        args: tuple[Any, ...] = ()
        if flow_name:
            sql += " AND e.flow_name = ?"
            args = (flow_name,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY t.opened", args).fetchall()
        keys = ("flow_name", "execution_name", "execution_id", "task_id", "token", "step", "action", "mode", "opened")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- async function invocations (durable) ------------------------------------------------
    def enqueue_invocation(self, invocation_id: str, function: str, event: Any, now: float,
                           execution_id: int | None, task_id: str | None, notify: bool) -> bool:
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO invocations (id, function, event, status, execution_id, task_id, "
                             "notify, created) VALUES (?, ?, ?, 'Queued', ?, ?, ?, ?)",
                             (invocation_id, function, _dumps(event), execution_id, task_id, int(notify), now))
            return cur.rowcount == 1

    def claim_invocation(self, owner: str = "", now: float | None = None, lease: float = 30.0
                         ) -> dict[str, Any] | None:
        """The oldest queued invocation, or a running one whose worker's lease ran out (it is run
        again: at least once)."""
        now = time.time() if now is None else now
        with self._tx() as db:
            row = db.execute("SELECT id, function, event, execution_id, task_id, notify FROM invocations "
                             "WHERE status='Queued' OR (status='Running' AND lease_until <= ?) "
                             "ORDER BY created LIMIT 1", (now,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE invocations SET status='Running', owner=?, lease_until=? WHERE id=?",
                       (owner or None, now + lease, row[0]))
        return {"id": row[0], "function": row[1], "event": loads(row[2]), "execution_id": row[3],
                "task_id": row[4], "notify": bool(row[5])}

    def finish_invocation(self, invocation_id: str, status: str, result: Any, error: str | None,
                          cause: str | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE invocations SET status=?, result=?, error=?, cause=?, owner=NULL, lease_until=NULL "
                       "WHERE id=?",
                       (status, _dumps(result), error, cause, invocation_id))

    def get_invocation(self, invocation_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT id, status, result, error, cause FROM invocations WHERE id=?",
                                   (invocation_id,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "status": row[1], "result": _loads(row[2]), "error": row[3], "cause": row[4]}

    def requeue_running_invocations(self) -> int:
        """After a restart, invocations that were running died with the old process: run them again."""
        with self._tx() as db:
            return db.execute("UPDATE invocations SET status='Queued', owner=NULL, lease_until=NULL "
                              "WHERE status='Running'").rowcount

    def cancel_invocation(self, invocation_id: str) -> str | None:
        """Mark a queued or running invocation cancelled; returns the status it had."""
        with self._tx() as db:
            row = db.execute("SELECT status FROM invocations WHERE id=?", (invocation_id,)).fetchone()
            if row is None:
                return None
            if row[0] in ("Queued", "Running"):
                db.execute("UPDATE invocations SET status='Cancelled' WHERE id=?", (invocation_id,))
            return str(row[0])

    # -- schedules ------------------------------------------------------------------------------
    _SCHEDULE_COLUMNS = ("flow_name", "name", "id", "cron", "description", "enable", "payload", "created", "modified",
                         "next_fire")

    def put_schedule(self, schedule: dict[str, Any], *, create: bool) -> dict[str, Any]:
        with self._tx() as db:
            exists = db.execute("SELECT 1 FROM schedules WHERE flow_name=? AND name=?",
                                (schedule["flow_name"], schedule["name"])).fetchone()
            if create and exists:
                raise ScheduleAlreadyExists(f"the schedule {schedule['name']!r} of flow {schedule['flow_name']!r} "
                                            "already exists")
            if not create and not exists:
                raise ScheduleNotExists(f"the schedule {schedule['name']!r} of flow {schedule['flow_name']!r} "
                                        "does not exist")
            if create and db.execute("SELECT 1 FROM flows WHERE name=?", (schedule["flow_name"],)).fetchone() is None:
                raise FlowNotExists(f"the flow {schedule['flow_name']!r} does not exist")
            db.execute(f"INSERT OR REPLACE INTO schedules VALUES ({', '.join('?' * len(self._SCHEDULE_COLUMNS))})",
                       [int(schedule[c]) if c == "enable" else schedule[c] for c in self._SCHEDULE_COLUMNS])
        return schedule

    def get_schedule(self, flow_name: str, name: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(self._SCHEDULE_COLUMNS)} FROM schedules "
                                   "WHERE flow_name=? AND name=?", (flow_name, name)).fetchone()
        if row is None:
            raise ScheduleNotExists(f"the schedule {name!r} of flow {flow_name!r} does not exist")
        return self._schedule(row)

    def _schedule(self, row: tuple[Any, ...]) -> dict[str, Any]:
        schedule = dict(zip(self._SCHEDULE_COLUMNS, row, strict=True))
        schedule["enable"] = bool(schedule["enable"])
        return schedule

    def list_schedules(self, flow_name: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(self._SCHEDULE_COLUMNS)} FROM schedules WHERE flow_name=? "
                                    "ORDER BY created, name", (flow_name,)).fetchall()
        return [self._schedule(r) for r in rows]

    def delete_schedule(self, flow_name: str, name: str) -> None:
        with self._tx() as db:
            if db.execute("DELETE FROM schedules WHERE flow_name=? AND name=?", (flow_name, name)).rowcount == 0:
                raise ScheduleNotExists(f"the schedule {name!r} of flow {flow_name!r} does not exist")

    def due_schedules(self, now: float) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(self._SCHEDULE_COLUMNS)} FROM schedules "
                                    "WHERE enable=1 AND next_fire IS NOT NULL AND next_fire <= ?", (now,)).fetchall()
        return [self._schedule(r) for r in rows]

    def advance_schedule(self, flow_name: str, name: str, fired: float, next_fire: float | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE schedules SET next_fire=? WHERE flow_name=? AND name=? AND next_fire=?",
                       (next_fire, flow_name, name, fired))

    # -- queues -------------------------------------------------------------------------------
    def ensure_queue(self, name: str, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._tx() as db:
            row = db.execute("SELECT attributes, created FROM queues WHERE name=?", (name,)).fetchone()
            if row is None:
                attrs = {"VisibilityTimeout": 30, "MaximumMessageSize": 65536, "MessageRetentionPeriod": 345600,
                         "DelaySeconds": 0, "PollingWaitSeconds": 0, **(attributes or {})}
                db.execute("INSERT INTO queues VALUES (?, ?, ?)", (name, _dumps(attrs), time.time()))
                return {"name": name, "attributes": attrs, "created": time.time()}
            return {"name": name, "attributes": loads(row[0]), "created": row[1]}

    def get_queue(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT attributes, created FROM queues WHERE name=?", (name,)).fetchone()
            if row is None:
                return None
            now = time.time()
            counts = self._db.execute(
                "SELECT SUM(visible_at <= ?), SUM(visible_at > ? AND dequeue_count > 0), "
                "SUM(visible_at > ? AND dequeue_count = 0) FROM messages WHERE queue=?", (now, now, now, name)).fetchone()
        attributes = loads(row[0])
        return {"name": name, "attributes": attributes, "created": row[1],
                "modified": attributes.get("LastModifyTime", row[1]),
                "active": counts[0] or 0, "inactive": counts[1] or 0, "delayed": counts[2] or 0}

    def create_queue(self, name: str, attributes: dict[str, Any]) -> str:
        """'created', 'same' (exists with these attributes) or 'conflict'."""
        with self._lock:
            existing = self.get_queue(name)
            if existing is not None:
                same = all(existing["attributes"].get(k) == v for k, v in attributes.items())
                return "same" if same else "conflict"
            self.ensure_queue(name, attributes)
            return "created"

    def set_queue_attributes(self, name: str, attributes: dict[str, Any]) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT attributes FROM queues WHERE name=?", (name,)).fetchone()
            if row is None:
                return False
            merged = {**loads(row[0]), **attributes, "LastModifyTime": time.time()}
            db.execute("UPDATE queues SET attributes=? WHERE name=?", (_dumps(merged), name))
            return True

    def delete_queue(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM messages WHERE queue=?", (name,))
            db.execute("DELETE FROM queues WHERE name=?", (name,))

    def peek_messages(self, queue: str, now: float, count: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, body, priority, enqueued, first_dequeued, dequeue_count FROM messages "
                                    "WHERE queue=? AND visible_at <= ? ORDER BY priority, seq LIMIT ?",
                                    (queue, now, count)).fetchall()
        return [{"id": r[0], "body": r[1], "priority": r[2], "enqueued": r[3],
                 "first_dequeued": r[4] if r[4] is not None else r[3], "dequeue_count": r[5]} for r in rows]

    def next_visible(self, queue: str) -> float | None:
        """When the queue's next message becomes visible (now or later), or None if it has none."""
        with self._lock:
            row = self._db.execute("SELECT MIN(visible_at) FROM messages WHERE queue=?", (queue,)).fetchone()
        return row[0]

    def list_queues(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT q.name, q.attributes, q.created, "
                "(SELECT COUNT(*) FROM messages m WHERE m.queue=q.name) FROM queues q ORDER BY q.name").fetchall()
        return [{"name": r[0], "attributes": loads(r[1]), "created": r[2], "messages": r[3]} for r in rows]

    def send_message(self, queue: str, body: str, priority: int, delay: float, now: float,
                     message_id: str | None = None) -> dict[str, Any]:
        self.ensure_queue(queue)
        message_id = message_id or uuid.uuid4().hex.upper()
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM messages").fetchone()[0]
            db.execute("INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, NULL, 0, NULL, ?)",
                       (message_id, queue, body, priority, now + delay, now, seq))
        return {"id": message_id}

    def receive_messages(self, queue: str, now: float, count: int, visibility: float) -> list[dict[str, Any]]:
        with self._tx() as db:
            rows = db.execute("SELECT id, body, priority, enqueued, first_dequeued, dequeue_count FROM messages "
                              "WHERE queue=? AND visible_at <= ? ORDER BY priority, seq LIMIT ?",
                              (queue, now, count)).fetchall()
            out = []
            for r in rows:
                handle = f"{r[0]}-{secrets.token_hex(8)}"
                first = r[4] if r[4] is not None else now
                db.execute("UPDATE messages SET visible_at=?, receipt_handle=?, dequeue_count=dequeue_count+1, "
                           "first_dequeued=? WHERE id=?", (now + visibility, handle, first, r[0]))
                out.append({"id": r[0], "body": r[1], "priority": r[2], "enqueued": r[3], "first_dequeued": first,
                            "dequeue_count": r[5] + 1, "receipt_handle": handle, "next_visible": now + visibility})
            return out

    def delete_message(self, queue: str, receipt_handle: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM messages WHERE queue=? AND receipt_handle=?",
                              (queue, receipt_handle)).rowcount == 1

    def change_visibility(self, queue: str, receipt_handle: str, visible_at: float) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT id FROM messages WHERE queue=? AND receipt_handle=?",
                             (queue, receipt_handle)).fetchone()
            if row is None:
                return None
            handle = f"{row[0]}-{secrets.token_hex(8)}"
            db.execute("UPDATE messages SET visible_at=?, receipt_handle=? WHERE id=?", (visible_at, handle, row[0]))
            return handle

    def withdraw_message(self, message_id: str) -> str:
        """Delete a message nobody has received yet; says what happened."""
        with self._tx() as db:
            row = db.execute("SELECT dequeue_count FROM messages WHERE id=?", (message_id,)).fetchone()
            if row is None:
                return "gone"
            if row[0] > 0:
                return "received"
            db.execute("DELETE FROM messages WHERE id=?", (message_id,))
            return "withdrawn"


def _row(row: tuple[Any, ...]) -> ExecutionRow:
    return ExecutionRow(
        id=row[0], flow_name=row[1], name=row[2], status=row[3], input=loads(row[4]), output=_loads(row[5]),
        error=row[6], cause=row[7], started=row[8], stopped=row[9], state=_loads(row[10]), definition=row[11],
        parent_id=row[12], parent_task=row[13], callback_token=row[14], flow_version=row[15], qualifier=row[16],
        map_run=row[17])
