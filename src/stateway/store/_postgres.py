"""The PostgreSQL store: any number of API nodes and workers on one database.

psycopg 3 with a connection pool; every method is one transaction on a pooled connection with a
statement timeout. Due work, outbox commands and async invocations are claimed with
``FOR UPDATE SKIP LOCKED`` and an owner id in one statement, as DBOS claims queued workflows, so
concurrent workers never take the same row and never wait on each other. Writes that make work
due, change a queue or end an execution send a ``NOTIFY`` in their own transaction (delivered on
commit only), which wakes idle workers and long polls in every process.
"""

from __future__ import annotations

import collections
import logging
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

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
from stateway.store._pg_schema import MIGRATION_LOCK, MIGRATIONS
from stateway.store._pg_tasks import TaskViewsMixin
from stateway.store._sql_maprun import MapRunsMixin
from stateway.store._sql_nonces import NoncesMixin
from stateway.store._sql_status import StatusMixin
from stateway.store._sql_versions import VersionsMixin
from stateway.store._types import ExecutionRow
from stateway.store.contract import DecisionCommit, LeaseLost, StoreUnavailable

log = logging.getLogger("stateway.store.postgres")

CHANNEL = "stateway"
_EXEC_COLUMNS = ("id, flow_name, name, status, input, output, error, cause, started, stopped, state, definition, "
                 "parent_id, parent_task, callback_token, flow_version, qualifier, map_run")
_SCHEDULE_COLUMNS = ("flow_name", "name", "id", "cron", "description", "enable", "payload", "created", "modified",
                     "next_fire")


def _loads(text: str | None) -> Any:
    return None if text is None else loads(text)


class PostgresStore(VersionsMixin, MapRunsMixin, NoncesMixin, TaskViewsMixin, StatusMixin):
    shared = True
    _FOR_UPDATE = " FOR UPDATE"
    _ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF"

    def __init__(self, url: str, *, pool_size: int = 10, statement_timeout: float = 30.0,
                 connect_timeout: float = 10.0, startup_timeout: float = 60.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.takeovers: collections.Counter[str] = collections.Counter()
        self._subscribers: list[Callable[[str], None]] = []
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, check=_check_if_idle,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(connect_timeout)),
                    "options": f"-c statement_timeout={int(statement_timeout * 1000)}"},
            name="stateway")
        self._pool.open(wait=False)
        self._migrate_with_retry(startup_timeout)

    # -- connections ---------------------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection without BEGIN/COMMIT: each statement of a read sees committed data
        on its own (autocommit), two round trips fewer than a transaction."""
        try:
            with self._pool.connection(timeout=self.connect_timeout) as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"PostgreSQL is unavailable: {exc}") from exc

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection(timeout=self.connect_timeout) as conn, conn.transaction():
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"PostgreSQL is unavailable: {exc}") from exc

    def _migrate_with_retry(self, timeout: float) -> None:
        """Nodes may start before the database does: retry with backoff, then give up loudly."""
        deadline = time.monotonic() + timeout
        delay = 0.2
        while True:
            try:
                self._migrate()
                return
            except StoreUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    self._pool.close()
                    raise
                log.warning("waiting for PostgreSQL (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _migrate(self) -> None:
        with self._tx() as db:
            # one node migrates; the others wait here, then find nothing left to do
            db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            have = db.execute("SELECT to_regclass('meta')").fetchone()[0]  # type: ignore[index]
            version = 0
            if have:
                row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(row[0]) if row else 0
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                db.execute(script)  # type: ignore[arg-type]
                db.execute("INSERT INTO meta VALUES ('schema_version', %s) ON CONFLICT (key) DO UPDATE "
                           "SET value=excluded.value", (str(number),))

    def schema_version(self) -> int:
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def ping(self) -> bool:
        try:
            with self._tx() as db:
                return db.execute("SELECT 1").fetchone() == (1,)
        except StoreUnavailable:
            return False

    def close(self) -> None:
        self._closed.set()
        self._pool.close()

    # -- wake-ups ------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[str], None]) -> None:
        self._subscribers.append(callback)
        if self._listener is None:
            self._listener = threading.Thread(target=self._listen, name="stateway-pg-listen", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        delay = 0.2
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout))
                                     ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.2
                    self._deliver("work")  # whatever was written while we were not listening
                    while not self._closed.is_set():
                        for notice in conn.notifies(timeout=1.0):
                            self._deliver(notice.payload)
            except psycopg.Error as exc:
                if self._closed.is_set():
                    return
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, delay)
                self._closed.wait(delay)
                delay = min(delay * 2, 5.0)

    def _deliver(self, topic: str) -> None:
        for callback in list(self._subscribers):
            try:
                callback(topic)
            except Exception:
                log.exception("wake-up subscriber failed")

    @staticmethod
    def _notify(db: psycopg.Connection[Any], topic: str) -> None:
        db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, topic))

    # -- meta ----------------------------------------------------------------------------------
    def get_secret(self) -> bytes:
        with self._tx() as db:
            db.execute("INSERT INTO meta VALUES ('secret', %s) ON CONFLICT (key) DO NOTHING", (secrets.token_hex(32),))
            row = db.execute("SELECT value FROM meta WHERE key='secret'").fetchone()
        return bytes.fromhex(row[0])  # type: ignore[index]

    # -- flows ---------------------------------------------------------------------------------
    def put_flow(self, name: str, definition: str, meta: dict[str, Any], *, replace: bool | str) -> dict[str, Any]:
        now = time.time()
        try:
            with self._tx() as db:
                row = db.execute("SELECT id, created, meta FROM flows WHERE name=%s FOR UPDATE", (name,)).fetchone()
                if row is not None and not replace:
                    raise FlowAlreadyExists(f"the flow {name!r} already exists")
                if row is None and replace == "update":
                    raise FlowNotExists(f"the flow {name!r} does not exist")
                if row is None:
                    db.execute("INSERT INTO flows VALUES (%s, %s, %s, %s, %s, %s)",
                               (name, str(uuid.uuid4()), definition, _dumps(meta), now, now))
                else:
                    db.execute("UPDATE flows SET definition=%s, meta=%s, modified=%s WHERE name=%s",
                               (definition, _dumps({**_loads(row[2]), **meta}), now, name))
        except errors.UniqueViolation:
            raise FlowAlreadyExists(f"the flow {name!r} already exists") from None
        return self.get_flow(name)

    def get_flow(self, name: str) -> dict[str, Any]:
        with self._read() as db:
            row = db.execute("SELECT name, id, definition, meta, created, modified FROM flows WHERE name=%s",
                             (name,)).fetchone()
        if row is None:
            raise FlowNotExists(f"the flow {name!r} does not exist")
        return _flow(row)

    def list_flows(self) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute("SELECT name, id, definition, meta, created, modified FROM flows "
                              "ORDER BY created, name").fetchall()
        return [_flow(r) for r in rows]

    def delete_flow(self, name: str) -> None:
        with self._tx() as db:
            row = db.execute("DELETE FROM flows WHERE name=%s RETURNING id", (name,)).fetchone()
            if row is None:
                raise FlowNotExists(f"the flow {name!r} does not exist")
            self._delete_versions_of(db, row[0])

    # -- executions ----------------------------------------------------------------------------
    def create_execution(self, flow_name: str, name: str, input_: Any, now: float, *, parent_id: int | None = None,
                         parent_task: str | None = None, callback_token: str | None = None,
                         definition: str | None = None, flow_version: str = "", qualifier: str = "",
                         map_run: str = "", state: dict[str, Any] | None = None) -> tuple[ExecutionRow, bool]:
        with self._tx() as db:
            flow = db.execute("SELECT definition FROM flows WHERE name=%s", (flow_name,)).fetchone()
            if flow is None:
                raise FlowNotExists(f"the flow {flow_name!r} does not exist")
            if definition is not None:  # a published version's snapshot, or a Map Run's Processor
                flow = (definition,)
            # two nodes starting the same name race here: one inserts, the other finds it
            inserted = db.execute(
                "INSERT INTO executions (flow_name, name, status, input, started, definition, parent_id, "
                "parent_task, callback_token, flow_version, qualifier, map_run, state) "
                "VALUES (%s, %s, 'Running', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (flow_name, name) DO NOTHING RETURNING id",
                (flow_name, name, _dumps(input_), now, flow[0], parent_id, parent_task, callback_token, flow_version,
                 qualifier, map_run, None if state is None else _dumps(state))).fetchone()
            if inserted is not None:
                db.execute("INSERT INTO inbox (execution_id, due, event) VALUES (%s, 0, %s)",
                           (inserted[0], _dumps({"type": "start"})))
                self._notify(db, "work")
                return self._execution(db, inserted[0]), True
            row = db.execute(f"SELECT {_EXEC_COLUMNS} FROM executions WHERE flow_name=%s AND name=%s",
                             (flow_name, name)).fetchone()
        if row is None or row[3] not in ("Running", "Starting"):
            raise ExecutionAlreadyExists(f"an execution named {name!r} of flow {flow_name!r} already ran")
        return _row(row), False

    def _execution(self, db: psycopg.Connection[Any], execution_id: int) -> ExecutionRow:
        row = db.execute(f"SELECT {_EXEC_COLUMNS} FROM executions WHERE id=%s", (execution_id,)).fetchone()
        if row is None:
            raise ExecutionNotExists(f"no execution with id {execution_id}")
        return _row(row)

    def get_execution(self, execution_id: int) -> ExecutionRow:
        with self._read() as db:
            return self._execution(db, execution_id)

    def find_execution(self, flow_name: str, name: str) -> ExecutionRow | None:
        with self._read() as db:
            row = db.execute(f"SELECT {_EXEC_COLUMNS} FROM executions WHERE flow_name=%s AND name=%s",
                             (flow_name, name)).fetchone()
        return _row(row) if row else None

    def list_executions(self, flow_name: str | None = None, status: str | None = None,
                        parent_id: int | None = None, *, name_prefix: str = "", started_from: float | None = None,
                        started_to: float | None = None, offset: int = 0, limit: int = -1,
                        with_state: bool = True, flow_version: str | None = None, qualifier: str | None = None,
                        map_run: str | None = None) -> list[ExecutionRow]:
        clauses, args = [], []
        for column, value in (("flow_name", flow_name), ("status", status), ("parent_id", parent_id),
                              ("flow_version", flow_version), ("qualifier", qualifier), ("map_run", map_run)):
            if value is not None:
                clauses.append(f"{column}=%s")
                args.append(value)
        if name_prefix:
            clauses.append("left(name, %s) = %s")
            args += [len(name_prefix), name_prefix]
        if started_from is not None:
            clauses.append("started >= %s")
            args.append(started_from)
        if started_to is not None:
            clauses.append("started <= %s")
            args.append(started_to)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        columns = _EXEC_COLUMNS if with_state else _EXEC_COLUMNS.replace(" state,", " NULL,")
        with self._read() as db:
            rows = db.execute(f"SELECT {columns} FROM executions {where} ORDER BY id LIMIT %s OFFSET %s",
                              [*args, None if limit < 0 else limit, offset]).fetchall()
        return [_row(r) for r in rows]

    def count_executions(self, flow_name: str, status: str) -> int:
        with self._read() as db:
            return int(db.execute("SELECT COUNT(*) FROM executions WHERE flow_name=%s AND status=%s",
                                  (flow_name, status)).fetchone()[0])  # type: ignore[index]

    def child_execution(self, parent_id: int, parent_task: str) -> ExecutionRow | None:
        with self._read() as db:
            row = db.execute(f"SELECT {_EXEC_COLUMNS} FROM executions WHERE parent_id=%s AND parent_task=%s",
                             (parent_id, parent_task)).fetchone()
        return _row(row) if row else None

    def history(self, execution_id: int, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(
                "SELECT event_id, type, step_name, time, schedule_event_id, detail FROM history "
                "WHERE execution_id=%s AND event_id>%s ORDER BY event_id LIMIT %s",
                (execution_id, after, limit)).fetchall()
        return [{"EventId": r[0], "Type": r[1], "StepName": r[2], "Time": r[3], "ScheduleEventId": r[4],
                 "EventDetail": loads(r[5])} for r in rows]

    # -- console reads (see SQLiteStore for what each returns) -----------------------------------
    _SUMMARY_COLUMNS = "id, flow_name, name, status, started, stopped, error, cause, parent_id"

    def page_executions(self, *, flow_name: str | None = None, status: str | None = None, name_prefix: str = "",
                        started_from: float | None = None, started_to: float | None = None,
                        parent_id: int | None = None, before_id: int | None = None, after_id: int | None = None,
                        limit: int = 50) -> list[dict[str, Any]]:
        clauses, args = [], []
        for column, value in (("flow_name", flow_name), ("status", status), ("parent_id", parent_id)):
            if value is not None:
                clauses.append(f"{column}=%s")
                args.append(value)
        if name_prefix:
            clauses.append("starts_with(name, %s)")
            args.append(name_prefix)
        for clause, value in (("started >= %s", started_from), ("started <= %s", started_to),
                              ("id < %s", before_id), ("id > %s", after_id)):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "ASC" if after_id is not None and before_id is None else "DESC"
        with self._tx() as db:
            rows = db.execute(f"SELECT {self._SUMMARY_COLUMNS} FROM executions {where} ORDER BY id {order} LIMIT %s",
                              [*args, limit]).fetchall()
        if order == "ASC":
            rows.reverse()
        keys = [c.strip() for c in self._SUMMARY_COLUMNS.split(",")]
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def page_flows(self, query: str = "", offset: int = 0, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        where, args = "", []
        if query:
            where = "WHERE strpos(lower(name), %s) > 0"
            args.append(query.lower())
        with self._tx() as db:
            total = db.execute(f"SELECT COUNT(*) FROM flows {where}", args).fetchone()[0]  # type: ignore[index]
            rows = db.execute(f"SELECT name, meta, created, modified FROM flows {where} ORDER BY name "
                              "LIMIT %s OFFSET %s", [*args, limit, offset]).fetchall()
        return [{"name": r[0], "meta": loads(r[1]), "created": r[2], "modified": r[3]} for r in rows], int(total)

    def history_outline(self, execution_id: int, after: int = 0) -> list[tuple[Any, ...]]:
        with self._tx() as db:
            return [tuple(r) for r in db.execute(
                "SELECT event_id, type, step_name, time, schedule_event_id, CASE type "
                "WHEN 'TaskScheduled' THEN ((detail::jsonb ->> 'taskMode') = 'WaitForCustomCallback')::int "
                "WHEN 'StepFailed' THEN (jsonb_exists(detail::jsonb, 'retry'))::int "
                "WHEN 'StepExited' THEN (detail <> '{}')::int ELSE 0 END "
                "FROM history WHERE execution_id=%s AND event_id>%s ORDER BY event_id",
                (execution_id, after)).fetchall()]

    def history_events(self, execution_id: int, event_ids: list[int]) -> list[dict[str, Any]]:
        if not event_ids:
            return []
        with self._tx() as db:
            rows = db.execute(
                "SELECT event_id, type, step_name, time, schedule_event_id, detail FROM history "
                "WHERE execution_id=%s AND event_id = ANY(%s) ORDER BY event_id", (execution_id, event_ids)).fetchall()
        return [{"EventId": r[0], "Type": r[1], "StepName": r[2], "Time": r[3], "ScheduleEventId": r[4],
                 "EventDetail": loads(r[5])} for r in rows]

    def history_count(self, execution_id: int) -> int:
        with self._tx() as db:
            row = db.execute("SELECT MAX(event_id) FROM history WHERE execution_id=%s", (execution_id,)).fetchone()
        return int(row[0] or 0) if row else 0

    def orphan_executions(self) -> list[ExecutionRow]:
        with self._read() as db:
            rows = db.execute(
                f"SELECT {', '.join('c.' + c.strip() for c in _EXEC_COLUMNS.split(','))} FROM executions c "
                "JOIN executions p ON p.id = c.parent_id "
                "WHERE c.status='Running' AND p.status NOT IN ('Running', 'Starting')").fetchall()
        return [_row(r) for r in rows]

    # -- work ----------------------------------------------------------------------------------
    def due_executions(self, now: float, limit: int) -> list[int]:
        with self._read() as db:
            rows = db.execute("SELECT execution_id FROM inbox WHERE due <= %s GROUP BY execution_id "
                              "ORDER BY MIN(id) LIMIT %s", (now, limit)).fetchall()
        return [r[0] for r in rows]

    def claim_executions(self, owner: str, now: float, limit: int, lease: float,
                         exclude: Collection[int] = ()) -> list[int]:
        with self._tx() as db:
            rows = db.execute(
                "WITH due AS (SELECT e.id, e.owner AS was FROM executions e "
                "  WHERE e.id IN (SELECT execution_id FROM inbox WHERE due <= %(now)s) "
                "    AND (e.owner IS NULL OR e.lease_until <= %(now)s OR e.owner = %(owner)s) "
                "    AND e.id <> ALL(%(exclude)s) "
                "  ORDER BY e.id LIMIT %(limit)s FOR UPDATE OF e SKIP LOCKED) "
                "UPDATE executions x SET owner=%(owner)s, lease_until=%(until)s FROM due WHERE x.id = due.id "
                "RETURNING x.id, due.was",
                {"now": now, "owner": owner, "limit": limit, "until": now + lease,
                 "exclude": list(exclude)}).fetchall()
        self.takeovers["execution"] += sum(1 for _, was in rows if was is not None and was != owner)
        return sorted(r[0] for r in rows)

    def release_execution(self, execution_id: int, owner: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE executions SET owner=NULL, lease_until=NULL WHERE id=%s AND owner=%s",
                       (execution_id, owner))

    def renew_claims(self, owner: str, now: float, lease: float) -> int:
        renewed = 0
        with self._tx() as db:
            for table in ("executions", "outbox", "invocations"):
                renewed += db.execute(f"UPDATE {table} SET lease_until=%s WHERE owner=%s AND lease_until>%s",
                                      (now + lease, owner, now)).rowcount
        return renewed

    def release_claims(self, owner: str | None = None) -> None:
        if owner is None:
            return  # other processes share this database: their claims are theirs until they expire
        with self._tx() as db:
            for table in ("executions", "outbox"):
                db.execute(f"UPDATE {table} SET owner=NULL, lease_until=NULL WHERE owner=%s", (owner,))
            db.execute("UPDATE invocations SET owner=NULL, lease_until=NULL, status='Queued' "
                       "WHERE status='Running' AND owner=%s", (owner,))

    def due_events(self, execution_id: int, now: float) -> list[tuple[int, dict[str, Any]]]:
        with self._read() as db:
            rows = db.execute("SELECT id, event FROM inbox WHERE execution_id=%s AND due <= %s ORDER BY due, id",
                              (execution_id, now)).fetchall()
        return [(r[0], loads(r[1])) for r in rows]

    def next_due(self) -> float | None:
        with self._read() as db:
            row = db.execute("SELECT MIN(due) FROM inbox").fetchone()
        return row[0] if row else None

    def add_event(self, execution_id: int, event: dict[str, Any], due: float = 0.0) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO inbox (execution_id, due, event) VALUES (%s, %s, %s)",
                       (execution_id, due, _dumps(event)))
            self._notify(db, "work")

    def commit(self, execution_id: int, consumed: list[int], decision: Decision, now: float,
               extra_commands: list[dict[str, Any]], *, owner: str | None = None,
               lease: float = 0.0) -> list[tuple[int, dict[str, Any]]]:
        done = self.commit_batch([DecisionCommit(execution_id, consumed, decision, extra_commands)], now,
                                 owner=owner, lease=lease)[0]
        if done is None:
            raise LeaseLost(f"execution {execution_id} is no longer claimed by {owner}")
        return done

    def commit_batch(self, commits: list[DecisionCommit], now: float, *, owner: str | None = None,
                     lease: float = 0.0) -> list[list[tuple[int, dict[str, Any]]] | None]:
        """A few statements for the whole batch, whatever its size: every row kind goes in as arrays
        (``unnest``), so a batch of 64 executions costs about as many round trips as one."""
        if not commits:
            return []
        ids = [c.execution_id for c in commits]
        with self._tx() as db:
            held = set(ids) if owner is None else {r[0] for r in db.execute(
                "UPDATE executions SET owner=NULL, lease_until=NULL WHERE id = ANY(%s) AND owner=%s "
                "AND lease_until>%s RETURNING id", (ids, owner, now)).fetchall()}
            kept = [c for c in commits if c.execution_id in held]
            outboxes = self._write_decisions(db, kept, now, owner, lease) if kept else {}
        return [outboxes.get(c.execution_id) for c in commits]

    def _write_decisions(self, db: psycopg.Connection[Any], commits: list[DecisionCommit], now: float,
                         owner: str | None, lease: float) -> dict[int, list[tuple[int, dict[str, Any]]]]:
        consumed = [i for c in commits for i in c.consumed]
        history: dict[tuple[int, int], tuple[Any, ...]] = {}  # a rewritten event once, its latest form
        timers, cancelled, closed, opened, commands = [], [], [], [], []
        for c in commits:
            d, x = c.decision, c.execution_id
            for h in d.history:
                history[(x, h["EventId"])] = (x, h["EventId"], h["Type"], h["StepName"], h["Time"],
                                              h["ScheduleEventId"], _dumps(h["EventDetail"]))
            timers += [(x, t["due"], t["timer"], _dumps(t["event"])) for t in d.timers]
            cancelled += [(x, t) for t in d.cancelled_timers]
            closed += [(x, t) for t in d.closed_tasks]
            opened += [(x, t["task"], t["token"], t["state"], t["step"], t["action"], t["mode"], now)
                       for t in d.opened_tasks]
            commands += [(x, command) for command in [*d.commands, *c.extra_commands]]
        with db.cursor() as cur:
            if consumed:
                cur.execute("DELETE FROM inbox WHERE id = ANY(%s)", (consumed,))
            if history:
                cur.execute(
                    "INSERT INTO history SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], "
                    "%s::float8[], %s::bigint[], %s::text[]) ON CONFLICT (execution_id, event_id) "
                    "DO UPDATE SET type=excluded.type, step_name=excluded.step_name, time=excluded.time, "
                    "schedule_event_id=excluded.schedule_event_id, detail=excluded.detail",
                    _columns(list(history.values()), 7))
            if cancelled:
                cur.execute("DELETE FROM inbox i USING unnest(%s::bigint[], %s::text[]) AS c(x, t) "
                            "WHERE i.execution_id = c.x AND i.timer_id = c.t", _columns(cancelled, 2))
            if timers:
                cur.execute("INSERT INTO inbox (execution_id, due, timer_id, event) "
                            "SELECT * FROM unnest(%s::bigint[], %s::float8[], %s::text[], %s::text[])",
                            _columns(timers, 4))
            if closed:
                cur.execute("DELETE FROM open_tasks o USING unnest(%s::bigint[], %s::text[]) AS c(x, t) "
                            "WHERE o.execution_id = c.x AND o.task_id = c.t", _columns(closed, 2))
            if opened:
                latest = {(o[0], o[1]): o for o in opened}
                cur.execute(
                    "INSERT INTO open_tasks SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], "
                    "%s::text[], %s::text[], %s::text[], %s::float8[]) ON CONFLICT (execution_id, task_id) "
                    "DO UPDATE SET token=excluded.token, state=excluded.state, step=excluded.step, "
                    "action=excluded.action, mode=excluded.mode, opened=excluded.opened",
                    _columns(list(latest.values()), 8))
            outboxes: dict[int, list[tuple[int, dict[str, Any]]]] = {c.execution_id: [] for c in commits}
            if commands:
                # ids first, so each row is known to be its command's (RETURNING promises no order)
                ids = [r[0] for r in cur.execute("SELECT nextval(pg_get_serial_sequence('outbox', 'id')) "
                                                 "FROM generate_series(1, %s)", (len(commands),)).fetchall()]
                until = now + lease if owner else None
                cur.execute("INSERT INTO outbox (id, execution_id, command, owner, lease_until) "
                            "SELECT i, x, c, %s, %s FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS u(i, x, c)",
                            (owner, until, ids, [x for x, _ in commands], [_dumps(c) for _, c in commands]))
                for outbox_id, (x, command) in zip(ids, commands, strict=True):
                    outboxes[x].append((outbox_id, command))
            ended = [c for c in commits if c.decision.ended is not None]
            running = [c for c in commits if c.decision.ended is None]
            if running:
                cur.execute("UPDATE executions e SET state=u.s FROM unnest(%s::bigint[], %s::text[]) AS u(x, s) "
                            "WHERE e.id = u.x", ([c.execution_id for c in running],
                                                 [_dumps(c.decision.state) for c in running]))
            if ended:
                rows = []
                for c in ended:
                    end = c.decision.ended
                    assert end is not None
                    rows.append((c.execution_id, end["status"], None if end["output"] is None else _dumps(end["output"]),
                                 end["error"], end["cause"], _dumps(c.decision.state)))
                cur.execute(
                    "UPDATE executions e SET status=u.st, output=u.o, error=u.er, cause=u.ca, stopped=%s, state=u.s "
                    "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
                    "AS u(x, st, o, er, ca, s) WHERE e.id = u.x", (now, *_columns(rows, 6)))
                ended_ids = [c.execution_id for c in ended]
                # nothing more can happen to them: leftover timers would only wake them for nothing
                cur.execute("DELETE FROM inbox WHERE execution_id = ANY(%s) AND timer_id IS NOT NULL", (ended_ids,))
                cur.execute("SELECT pg_notify(%s, 'ended:' || x) FROM unnest(%s::bigint[]) AS x",
                            (CHANNEL, ended_ids))
        return outboxes

    def due_events_of(self, execution_ids: list[int], now: float) -> dict[int, list[tuple[int, dict[str, Any]]]]:
        found: dict[int, list[tuple[int, dict[str, Any]]]] = {x: [] for x in execution_ids}
        with self._read() as db:
            rows = db.execute("SELECT execution_id, id, event FROM inbox WHERE execution_id = ANY(%s) AND due <= %s "
                              "ORDER BY execution_id, due, id", (execution_ids, now)).fetchall()
        for x, inbox_id, event in rows:
            found[x].append((inbox_id, loads(event)))
        return found

    def get_executions(self, execution_ids: list[int]) -> dict[int, ExecutionRow]:
        with self._read() as db:
            rows = db.execute(f"SELECT {_EXEC_COLUMNS} FROM executions WHERE id = ANY(%s)",
                              (execution_ids,)).fetchall()
        return {r.id: r for r in map(_row, rows)}

    def release_executions(self, execution_ids: list[int], owner: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE executions SET owner=NULL, lease_until=NULL WHERE id = ANY(%s) AND owner=%s",
                       (execution_ids, owner))

    def pending_outbox(self) -> list[tuple[int, int, dict[str, Any]]]:
        with self._read() as db:
            rows = db.execute("SELECT id, execution_id, command FROM outbox ORDER BY id").fetchall()
        return [(r[0], r[1], loads(r[2])) for r in rows]

    def claim_outbox(self, owner: str, now: float, lease: float, limit: int = 100
                     ) -> list[tuple[int, int, dict[str, Any]]]:
        with self._tx() as db:
            rows = db.execute(
                "WITH free AS (SELECT id FROM outbox WHERE owner IS NULL OR lease_until <= %(now)s "
                "  ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
                "UPDATE outbox o SET owner=%(owner)s, lease_until=%(until)s FROM free WHERE o.id = free.id "
                "RETURNING o.id, o.execution_id, o.command",
                {"now": now, "limit": limit, "owner": owner, "until": now + lease}).fetchall()
        return sorted((r[0], r[1], loads(r[2])) for r in rows)

    def outbox_done(self, outbox_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE id=%s", (outbox_id,))

    def close_orphan_tasks(self, owner: str | None = None, lease_until: float | None = None
                           ) -> list[tuple[int, dict[str, Any]]]:
        with self._tx() as db:
            # DELETE ... RETURNING: of two workers sweeping at once, each task goes to one of them
            rows = db.execute(
                "DELETE FROM open_tasks t USING executions e WHERE e.id = t.execution_id "
                "AND e.status NOT IN ('Running', 'Starting') "
                "RETURNING t.execution_id, t.task_id, t.step, t.action, t.mode").fetchall()
            out = []
            for execution_id, task_id, step, action, mode in rows:
                command = {"kind": "cancel", "task": task_id, "action": action, "mode": mode, "step": step,
                           "reason": "sweep: its execution has ended"}
                row = db.execute("INSERT INTO outbox (execution_id, command, owner, lease_until) "
                                 "VALUES (%s, %s, %s, %s) RETURNING id",
                                 (execution_id, _dumps(command), owner, lease_until)).fetchone()
                out.append((row[0], {**command, "execution_id": execution_id}))  # type: ignore[index]
            return out

    def work_stats(self, now: float) -> dict[str, float]:
        with self._read() as db:
            outbox, oldest, messages = db.execute(
                "SELECT (SELECT COUNT(*) FROM outbox), (SELECT MIN(due) FROM inbox WHERE due > 0 AND due <= %s), "
                "(SELECT COUNT(*) FROM messages)", (now,)).fetchone()  # type: ignore[misc]
        return {"outbox_depth": float(outbox), "due_lag": now - oldest if oldest else 0.0,
                "queue_depth": float(messages)}

    # -- tasks ---------------------------------------------------------------------------------
    def complete_task(self, execution_id: int, task_id: str, event: dict[str, Any]) -> bool:
        with self._tx() as db:
            if db.execute("DELETE FROM open_tasks WHERE execution_id=%s AND task_id=%s",
                          (execution_id, task_id)).rowcount == 0:
                return False
            db.execute("INSERT INTO inbox (execution_id, due, event) VALUES (%s, 0, %s)",
                       (execution_id, _dumps(event)))
            self._notify(db, "work")
            return True

    def is_task_open(self, execution_id: int, task_id: str) -> bool:
        with self._read() as db:
            return db.execute("SELECT 1 FROM open_tasks WHERE execution_id=%s AND task_id=%s",
                              (execution_id, task_id)).fetchone() is not None

    def open_tasks(self, execution_id: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT execution_id, task_id, token, state, step, action, mode, opened FROM open_tasks"
        args: tuple[Any, ...] = ()
        if execution_id is not None:
            sql += " WHERE execution_id=%s"
            args = (execution_id,)
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
        keys = ("execution_id", "task_id", "token", "state", "step", "action", "mode", "opened")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- pruning (Express) -----------------------------------------------------------------------
    def prune_ended_executions(self, ended_before: float, keep: int) -> int:
        """As SQLite's (used for Express runs, which stay in memory; here for the contract's sake)."""
        final = "('Succeeded', 'Failed', 'Stopped', 'TimedOut')"
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                f"SELECT id FROM executions WHERE status IN {final} AND (stopped < %s OR id NOT IN "
                f"(SELECT id FROM executions WHERE status IN {final} ORDER BY id DESC LIMIT %s))",
                (ended_before, keep)).fetchall()]
            for table, column in (("executions", "id"), ("history", "execution_id"), ("inbox", "execution_id"),
                                  ("open_tasks", "execution_id"), ("outbox", "execution_id")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s)", (ids,))
        return len(ids)

    # -- async function invocations --------------------------------------------------------------
    def enqueue_invocation(self, invocation_id: str, function: str, event: Any, now: float,
                           execution_id: int | None, task_id: str | None, notify: bool) -> bool:
        with self._tx() as db:
            done = db.execute(
                "INSERT INTO invocations (id, function, event, status, execution_id, task_id, notify, created) "
                "VALUES (%s, %s, %s, 'Queued', %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (invocation_id, function, _dumps(event), execution_id, task_id, notify, now)).rowcount == 1
            if done:
                self._notify(db, "invocation")
            return done

    def claim_invocation(self, owner: str = "", now: float | None = None, lease: float = 30.0
                         ) -> dict[str, Any] | None:
        now = time.time() if now is None else now
        with self._tx() as db:
            row = db.execute(
                "WITH free AS (SELECT id, status AS was FROM invocations "
                "  WHERE status='Queued' OR (status='Running' AND lease_until <= %(now)s) "
                "  ORDER BY created LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "UPDATE invocations i SET status='Running', owner=%(owner)s, lease_until=%(until)s FROM free "
                "WHERE i.id = free.id RETURNING i.id, i.function, i.event, i.execution_id, i.task_id, i.notify, "
                "free.was",
                {"now": now, "owner": owner or None, "until": now + lease}).fetchone()
        if row is None:
            return None
        if row[6] == "Running":  # its worker's lease ran out while running it
            self.takeovers["invocation"] += 1
        return {"id": row[0], "function": row[1], "event": loads(row[2]), "execution_id": row[3],
                "task_id": row[4], "notify": bool(row[5])}

    def finish_invocation(self, invocation_id: str, status: str, result: Any, error: str | None,
                          cause: str | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE invocations SET status=%s, result=%s, error=%s, cause=%s, owner=NULL, "
                       "lease_until=NULL WHERE id=%s", (status, _dumps(result), error, cause, invocation_id))

    def get_invocation(self, invocation_id: str) -> dict[str, Any] | None:
        with self._read() as db:
            row = db.execute("SELECT id, status, result, error, cause FROM invocations WHERE id=%s",
                             (invocation_id,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "status": row[1], "result": _loads(row[2]), "error": row[3], "cause": row[4]}

    def requeue_running_invocations(self) -> int:
        """Only invocations nobody holds: other workers' running ones are theirs until their lease ends."""
        with self._tx() as db:
            return db.execute("UPDATE invocations SET status='Queued' WHERE status='Running' AND owner IS NULL"
                              ).rowcount

    def cancel_invocation(self, invocation_id: str) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT status FROM invocations WHERE id=%s FOR UPDATE", (invocation_id,)).fetchone()
            if row is None:
                return None
            if row[0] in ("Queued", "Running"):
                db.execute("UPDATE invocations SET status='Cancelled', owner=NULL, lease_until=NULL WHERE id=%s",
                           (invocation_id,))
            return str(row[0])

    # -- schedules -------------------------------------------------------------------------------
    def put_schedule(self, schedule: dict[str, Any], *, create: bool) -> dict[str, Any]:
        flow_name, name = schedule["flow_name"], schedule["name"]
        values = [bool(schedule[c]) if c == "enable" else schedule[c] for c in _SCHEDULE_COLUMNS]
        try:
            with self._tx() as db:
                exists = db.execute("SELECT 1 FROM schedules WHERE flow_name=%s AND name=%s FOR UPDATE",
                                    (flow_name, name)).fetchone()
                if create and exists:
                    raise ScheduleAlreadyExists(f"the schedule {name!r} of flow {flow_name!r} already exists")
                if not create and not exists:
                    raise ScheduleNotExists(f"the schedule {name!r} of flow {flow_name!r} does not exist")
                if create and db.execute("SELECT 1 FROM flows WHERE name=%s", (flow_name,)).fetchone() is None:
                    raise FlowNotExists(f"the flow {flow_name!r} does not exist")
                if create:
                    db.execute(f"INSERT INTO schedules ({', '.join(_SCHEDULE_COLUMNS)}) "
                               f"VALUES ({', '.join(['%s'] * len(_SCHEDULE_COLUMNS))})", values)
                else:
                    db.execute(f"UPDATE schedules SET {', '.join(c + '=%s' for c in _SCHEDULE_COLUMNS)} "
                               "WHERE flow_name=%s AND name=%s", [*values, flow_name, name])
        except errors.UniqueViolation:
            raise ScheduleAlreadyExists(f"the schedule {name!r} of flow {flow_name!r} already exists") from None
        return schedule

    def get_schedule(self, flow_name: str, name: str) -> dict[str, Any]:
        with self._read() as db:
            row = db.execute(f"SELECT {', '.join(_SCHEDULE_COLUMNS)} FROM schedules WHERE flow_name=%s AND name=%s",
                             (flow_name, name)).fetchone()
        if row is None:
            raise ScheduleNotExists(f"the schedule {name!r} of flow {flow_name!r} does not exist")
        return _schedule(row)

    def list_schedules(self, flow_name: str) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(f"SELECT {', '.join(_SCHEDULE_COLUMNS)} FROM schedules WHERE flow_name=%s "
                              "ORDER BY created, name", (flow_name,)).fetchall()
        return [_schedule(r) for r in rows]

    def delete_schedule(self, flow_name: str, name: str) -> None:
        with self._tx() as db:
            if db.execute("DELETE FROM schedules WHERE flow_name=%s AND name=%s", (flow_name, name)).rowcount == 0:
                raise ScheduleNotExists(f"the schedule {name!r} of flow {flow_name!r} does not exist")

    def due_schedules(self, now: float) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(f"SELECT {', '.join(_SCHEDULE_COLUMNS)} FROM schedules "
                              "WHERE enable AND next_fire IS NOT NULL AND next_fire <= %s", (now,)).fetchall()
        return [_schedule(r) for r in rows]

    def advance_schedule(self, flow_name: str, name: str, fired: float, next_fire: float | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE schedules SET next_fire=%s WHERE flow_name=%s AND name=%s AND next_fire=%s",
                       (next_fire, flow_name, name, fired))

    # -- queues ----------------------------------------------------------------------------------
    def ensure_queue(self, name: str, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        attrs = {"VisibilityTimeout": 30, "MaximumMessageSize": 65536, "MessageRetentionPeriod": 345600,
                 "DelaySeconds": 0, "PollingWaitSeconds": 0, **(attributes or {})}
        with self._tx() as db:
            db.execute("INSERT INTO queues VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING",
                       (name, _dumps(attrs), time.time()))
            row = db.execute("SELECT attributes, created FROM queues WHERE name=%s", (name,)).fetchone()
        return {"name": name, "attributes": loads(row[0]), "created": row[1]}  # type: ignore[index]

    def get_queue(self, name: str) -> dict[str, Any] | None:
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT attributes, created FROM queues WHERE name=%s", (name,)).fetchone()
            if row is None:
                return None
            counts = db.execute(
                "SELECT COUNT(*) FILTER (WHERE visible_at <= %(now)s), "
                "COUNT(*) FILTER (WHERE visible_at > %(now)s AND dequeue_count > 0), "
                "COUNT(*) FILTER (WHERE visible_at > %(now)s AND dequeue_count = 0) FROM messages WHERE queue=%(q)s",
                {"now": now, "q": name}).fetchone()
        attributes = loads(row[0])
        return {"name": name, "attributes": attributes, "created": row[1],
                "modified": attributes.get("LastModifyTime", row[1]),
                "active": counts[0], "inactive": counts[1], "delayed": counts[2]}  # type: ignore[index]

    def create_queue(self, name: str, attributes: dict[str, Any]) -> str:
        existing = self.get_queue(name)
        if existing is None:
            attrs = {"VisibilityTimeout": 30, "MaximumMessageSize": 65536, "MessageRetentionPeriod": 345600,
                     "DelaySeconds": 0, "PollingWaitSeconds": 0, **attributes}
            with self._tx() as db:
                if db.execute("INSERT INTO queues VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING",
                              (name, _dumps(attrs), time.time())).rowcount == 1:
                    return "created"
            existing = self.get_queue(name)
            if existing is None:
                return self.create_queue(name, attributes)
        same = all(existing["attributes"].get(k) == v for k, v in attributes.items())
        return "same" if same else "conflict"

    def set_queue_attributes(self, name: str, attributes: dict[str, Any]) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT attributes FROM queues WHERE name=%s FOR UPDATE", (name,)).fetchone()
            if row is None:
                return False
            merged = {**loads(row[0]), **attributes, "LastModifyTime": time.time()}
            db.execute("UPDATE queues SET attributes=%s WHERE name=%s", (_dumps(merged), name))
            return True

    def delete_queue(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM messages WHERE queue=%s", (name,))
            db.execute("DELETE FROM queues WHERE name=%s", (name,))

    def peek_messages(self, queue: str, now: float, count: int) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute("SELECT id, body, priority, enqueued, first_dequeued, dequeue_count FROM messages "
                              "WHERE queue=%s AND visible_at <= %s ORDER BY priority, seq LIMIT %s",
                              (queue, now, count)).fetchall()
        return [{"id": r[0], "body": r[1], "priority": r[2], "enqueued": r[3],
                 "first_dequeued": r[4] if r[4] is not None else r[3], "dequeue_count": r[5]} for r in rows]

    def next_visible(self, queue: str) -> float | None:
        with self._read() as db:
            row = db.execute("SELECT MIN(visible_at) FROM messages WHERE queue=%s", (queue,)).fetchone()
        return row[0] if row else None

    def list_queues(self) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(
                "SELECT q.name, q.attributes, q.created, "
                "(SELECT COUNT(*) FROM messages m WHERE m.queue=q.name) FROM queues q ORDER BY q.name").fetchall()
        return [{"name": r[0], "attributes": loads(r[1]), "created": r[2], "messages": r[3]} for r in rows]

    def send_message(self, queue: str, body: str, priority: int, delay: float, now: float,
                     message_id: str | None = None) -> dict[str, Any]:
        self.ensure_queue(queue)
        message_id = message_id or uuid.uuid4().hex.upper()
        with self._tx() as db:
            db.execute("INSERT INTO messages (id, queue, body, priority, visible_at, enqueued, dequeue_count) "
                       "VALUES (%s, %s, %s, %s, %s, %s, 0) ON CONFLICT (id) DO NOTHING",
                       (message_id, queue, body, priority, now + delay, now))
            self._notify(db, "queue")
        return {"id": message_id}

    def receive_messages(self, queue: str, now: float, count: int, visibility: float) -> list[dict[str, Any]]:
        with self._tx() as db:
            # SKIP LOCKED: receivers on other nodes take other messages, never the same one
            rows = db.execute("SELECT id, body, priority, enqueued, first_dequeued, dequeue_count FROM messages "
                              "WHERE queue=%s AND visible_at <= %s ORDER BY priority, seq LIMIT %s "
                              "FOR UPDATE SKIP LOCKED", (queue, now, count)).fetchall()
            out = []
            for r in rows:
                handle = f"{r[0]}-{secrets.token_hex(8)}"
                first = r[4] if r[4] is not None else now
                db.execute("UPDATE messages SET visible_at=%s, receipt_handle=%s, dequeue_count=dequeue_count+1, "
                           "first_dequeued=%s WHERE id=%s", (now + visibility, handle, first, r[0]))
                out.append({"id": r[0], "body": r[1], "priority": r[2], "enqueued": r[3], "first_dequeued": first,
                            "dequeue_count": r[5] + 1, "receipt_handle": handle, "next_visible": now + visibility})
            return out

    def delete_message(self, queue: str, receipt_handle: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM messages WHERE queue=%s AND receipt_handle=%s",
                              (queue, receipt_handle)).rowcount == 1

    def change_visibility(self, queue: str, receipt_handle: str, visible_at: float) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT id FROM messages WHERE queue=%s AND receipt_handle=%s FOR UPDATE",
                             (queue, receipt_handle)).fetchone()
            if row is None:
                return None
            handle = f"{row[0]}-{secrets.token_hex(8)}"
            db.execute("UPDATE messages SET visible_at=%s, receipt_handle=%s WHERE id=%s",
                       (visible_at, handle, row[0]))
            self._notify(db, "queue")
            return handle

    def withdraw_message(self, message_id: str) -> str:
        with self._tx() as db:
            row = db.execute("SELECT dequeue_count FROM messages WHERE id=%s FOR UPDATE", (message_id,)).fetchone()
            if row is None:
                return "gone"
            if row[0] > 0:
                return "received"
            db.execute("DELETE FROM messages WHERE id=%s", (message_id,))
            return "withdrawn"


_CHECK_AFTER = 2.0  # seconds a pooled connection may sit unused before it is tested on checkout


def _check_if_idle(conn: psycopg.Connection[Any]) -> None:
    """Test a connection that sat unused (the database may have restarted meanwhile); one in steady
    use is not, as a test costs a round trip on every checkout. A connection that broke while in use
    fails that call (``StoreUnavailable``) and the pool replaces it."""
    now = time.monotonic()
    last = _last_checkout.get(conn, 0.0)
    _last_checkout[conn] = now
    if now - last > _CHECK_AFTER:
        ConnectionPool.check_connection(conn)


_last_checkout: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = weakref.WeakKeyDictionary()


def _columns(rows: list[tuple[Any, ...]], width: int) -> tuple[list[Any], ...]:
    """Rows → one list per column, the arrays ``unnest`` takes back apart."""
    return tuple(list(col) for col in zip(*rows, strict=True)) if rows else tuple([] for _ in range(width))


def _flow(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"name": row[0], "id": row[1], "definition": row[2], "meta": _loads(row[3]), "created": row[4],
            "modified": row[5]}


def _schedule(row: tuple[Any, ...]) -> dict[str, Any]:
    schedule = dict(zip(_SCHEDULE_COLUMNS, row, strict=True))
    schedule["enable"] = bool(schedule["enable"])
    return schedule


def _row(row: tuple[Any, ...]) -> ExecutionRow:
    return ExecutionRow(
        id=row[0], flow_name=row[1], name=row[2], status=row[3], input=loads(row[4]), output=_loads(row[5]),
        error=row[6], cause=row[7], started=row[8], stopped=row[9], state=_loads(row[10]), definition=row[11],
        parent_id=row[12], parent_task=row[13], callback_token=row[14], flow_version=row[15], qualifier=row[16],
        map_run=row[17])
