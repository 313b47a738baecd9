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
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from stateway.jsontext import dumps as _dumps
from stateway.jsontext import loads
from stateway.store._pg_connect import wait_until_reachable
from stateway.store._pg_maprun import PgMapRunsMixin
from stateway.store._pg_messages import PgMessagesMixin
from stateway.store._pg_schema import MIGRATION_LOCK, MIGRATIONS
from stateway.store._pg_starts import PgStartsMixin
from stateway.store._pg_tasks import PgTasksMixin
from stateway.store._sql_rows import EXEC_COLUMNS, execution_row
from stateway.store._sql_shared import SharedSql
from stateway.store._types import ExecutionRow
from stateway.store.contract import DecisionCommit, ResultGateClosed, StoreUnavailable

log = logging.getLogger("stateway.store.postgres")

CHANNEL = "stateway"


class PostgresStore(PgStartsMixin, PgTasksMixin, PgMessagesMixin, PgMapRunsMixin, SharedSql):
    """What differs from SQLite: a pool, migrations under an advisory lock, LISTEN/NOTIFY, claims
    with SKIP LOCKED, and decisions committed as arrays; the dialect hooks of ``SqlStore``; a task's
    completion (``_pg_tasks``), an execution's start (``_pg_starts``) and a message's sending
    (``_pg_messages``) in one statement each."""

    _CHANNEL = CHANNEL

    shared = True
    _FOR_UPDATE = " FOR UPDATE"
    _SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    _ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF"
    _DUPLICATE = (errors.UniqueViolation,)
    _STRPOS = "strpos"
    _NO_LIMIT = None
    _ARRAYS = True
    _MESSAGE_SEQ = "DEFAULT"
    _OUTLINE_MARK = ("CASE type WHEN 'TaskScheduled' THEN ((detail::jsonb ->> 'taskMode') = 'WaitForCustomCallback')::int "
                     "WHEN 'StepFailed' THEN (jsonb_exists(detail::jsonb, 'retry'))::int "
                     "WHEN 'StepExited' THEN (detail <> '{}')::int ELSE 0 END")

    def __init__(self, url: str, *, pool_size: int = 10, statement_timeout: float = 30.0,
                 connect_timeout: float = 10.0, startup_timeout: float = 60.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.takeovers: collections.Counter[str] = collections.Counter()
        self.redispatched: dict[tuple[int, str], int] = {}
        self._subscribers: list[Callable[[str], None]] = []
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, check=_check_if_idle,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(connect_timeout)),
                    "options": f"-c statement_timeout={int(statement_timeout * 1000)}"},
            name="stateway")
        began = time.monotonic()
        wait_until_reachable(url, connect_timeout, startup_timeout)  # a refusal is said once, with its fix
        self._pool.open(wait=False)
        self._migrate_with_retry(max(1.0, startup_timeout - (time.monotonic() - began)))

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
        committed = begun = False
        try:
            with self._pool.connection(timeout=self.connect_timeout) as conn, conn.transaction():
                begun = True
                self._write_begun(conn)  # a request's nonce rides on its write (store/_sql_nonces.py)
                yield conn
            committed = True
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"PostgreSQL is unavailable: {exc}") from exc
        finally:
            if begun:
                self._write_ended(committed)

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

    def _notify(self, db: psycopg.Connection[Any], topic: str) -> None:
        db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, topic))

    def _in(self, column: str, values: list[Any]) -> tuple[str, Any]:
        return f"{column} = ANY(?)", values

    def _name_prefix(self, prefix: str) -> tuple[str, list[Any]]:
        return "starts_with(name, ?)", [prefix]  # not a range: the database's collation need not be bytewise

    def _text(self, value: str) -> str:
        return value.replace("\x00", "")

    # -- claims ----------------------------------------------------------------------------------
    def claim_executions(self, owner: str, now: float, limit: int, lease: float,
                         exclude: Collection[int] = (), also: Collection[int] = ()) -> list[int]:
        # one statement in autocommit (one round trip, where BEGIN, SET LOCAL, the claim and COMMIT took
        # four). A claim lost to a database crash is harmless (the decision's commit is fenced on it, and
        # that commit flushes the log up to here): the claim need not wait for the disk on the event's
        # path, so the statement turns synchronous commit off for its own transaction (set in RETURNING:
        # evaluated for each claimed row, before the commit that reads it; no row claimed, nothing written)
        with self._read() as db:
            rows = db.execute(
                # candidates from the inbox's index first: an OR across two sources made the planner walk
                # every execution, a cost that grew with the table and widened each idle turn
                "WITH due AS (SELECT e.id, e.owner AS was FROM executions e "
                "  WHERE e.id IN (SELECT execution_id FROM inbox WHERE due <= %(now)s "
                "                 UNION SELECT unnest(%(also)b::bigint[])) "
                "    AND (e.owner IS NULL OR e.lease_until <= %(now)s OR e.owner = %(owner)s) "
                "    AND e.id <> ALL(%(exclude)s) "
                "  ORDER BY e.id LIMIT %(limit)s FOR UPDATE OF e SKIP LOCKED) "
                "UPDATE executions x SET owner=%(owner)s, lease_until=%(until)s FROM due WHERE x.id = due.id "
                "RETURNING x.id, due.was, set_config('synchronous_commit', 'off', true)",
                {"now": now, "owner": owner, "limit": limit, "until": now + lease,
                 "exclude": list(exclude), "also": list(also)}).fetchall()
        self.takeovers["execution"] += sum(1 for _, was, _ in rows if was is not None and was != owner)
        return sorted(r[0] for r in rows)

    def claim_outbox(self, owner: str, now: float, lease: float, limit: int = 100
                     ) -> list[tuple[int, int, dict[str, Any]]]:
        with self._tx() as db:
            rows = db.execute(
                "WITH free AS (SELECT id FROM outbox WHERE owner IS NULL OR lease_until <= %(now)s "
                "  ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
                "UPDATE outbox o SET owner=%(owner)s, lease_until=%(until)s, dispatches=o.dispatches + 1 "
                "FROM free WHERE o.id = free.id RETURNING o.id, o.execution_id, o.command, o.dispatches",
                {"now": now, "limit": limit, "owner": owner, "until": now + lease}).fetchall()
        claimed = sorted((r[0], r[1], loads(r[2]), r[3]) for r in rows)
        for _, execution_id, command, dispatches in claimed:
            self._remember_redispatch(execution_id, command, dispatches)
        return [(i, e, c) for i, e, c, _ in claimed]

    def claim_invocation(self, owner: str = "", now: float | None = None, lease: float = 30.0
                         ) -> dict[str, Any] | None:
        now = time.time() if now is None else now
        with self._tx() as db:
            row = db.execute(
                "WITH free AS (SELECT id, status AS was FROM invocations "
                "  WHERE status='Queued' OR (status='Running' AND lease_until <= %(now)s) "
                "  ORDER BY created LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "UPDATE invocations i SET status='Running', owner=%(owner)s, lease_until=%(until)s, "
                "dispatches=i.dispatches + 1 FROM free "
                "WHERE i.id = free.id RETURNING i.id, i.function, i.event, i.execution_id, i.task_id, i.notify, "
                "free.was, i.dispatches",
                {"now": now, "owner": owner or None, "until": now + lease}).fetchone()
        if row is None:
            return None
        if row[6] == "Running":  # its worker's lease ran out while running it
            self.takeovers["invocation"] += 1
        return {"id": row[0], "function": row[1], "event": loads(row[2]), "execution_id": row[3],
                "task_id": row[4], "notify": bool(row[5]), "dispatches": row[7]}

    def requeue_running_invocations(self) -> int:
        """Only invocations nobody holds: other workers' running ones are theirs until their lease ends."""
        with self._tx() as db:
            return db.execute("UPDATE invocations SET status='Queued' WHERE status='Running' AND owner IS NULL"
                              ).rowcount

    # -- decisions -------------------------------------------------------------------------------
    # text arrays go as binary parameters (%b): psycopg quotes and escapes a text-format array element
    # by element in Python, which for JSON texts (states, history details) cost more than the commit
    def commit_batch(self, commits: list[DecisionCommit], now: float, *, owner: str | None = None,
                     lease: float = 0.0) -> list[list[tuple[int, dict[str, Any]]] | None]:
        """A few statements for the whole batch, whatever its size: every row kind goes in as arrays
        (``unnest``), so a batch of 64 executions costs about as many round trips as one."""
        if not commits:
            return []
        ids = [c.execution_id for c in commits]
        gated = [(c.execution_id, t) for c in commits for t in c.gated_tasks]
        with self._tx() as db:
            if owner is None:
                held, opened = set(ids), set()
                if gated:
                    opened = {(r[0], r[1]) for r in db.execute(
                        "DELETE FROM open_tasks o USING unnest(%b::bigint[], %b::text[]) AS c(x, t) "
                        "WHERE o.execution_id = c.x AND o.task_id = c.t RETURNING o.execution_id, o.task_id",
                        _columns(gated, 2)).fetchall()}
                removed = False
            else:
                # one statement: the fence (claims still held, and released), the gate of each held result
                # (its open task, deleted once, as complete_task's), the consumed inbox rows and the outbox
                # rows the held results came from; only for executions whose claim held
                rows = db.execute(
                    "WITH held AS (UPDATE executions SET owner=NULL, lease_until=NULL WHERE id = ANY(%(ids)b::bigint[]) "
                    "  AND owner=%(owner)s AND lease_until>%(now)s RETURNING id), "
                    "gate AS (DELETE FROM open_tasks o USING unnest(%(gx)b::bigint[], %(gt)b::text[]) AS c(x, t) "
                    "  WHERE o.execution_id = c.x AND o.task_id = c.t AND c.x IN (SELECT id FROM held) "
                    "  RETURNING o.execution_id, o.task_id), "
                    "done AS (DELETE FROM outbox WHERE id = ANY(%(done)b::bigint[]) AND execution_id IN (SELECT id FROM held)), "
                    "used AS (DELETE FROM inbox WHERE id = ANY(%(used)b::bigint[]) AND execution_id IN (SELECT id FROM held)) "
                    "SELECT id, NULL FROM held UNION ALL SELECT execution_id, task_id FROM gate",
                    {"ids": ids, "owner": owner, "now": now, "gx": [x for x, _ in gated], "gt": [t for _, t in gated],
                     "done": [i for c in commits for i in c.outbox_done],
                     "used": [i for c in commits for i in c.consumed]}).fetchall()
                held = {x for x, t in rows if t is None}
                opened = {(x, t) for x, t in rows if t is not None}
                removed = True
            closed = sorted({x for x, t in gated if x in held and (x, t) not in opened})
            if closed:
                raise ResultGateClosed(closed)  # rolls the whole transaction back
            kept = [c for c in commits if c.execution_id in held]
            outboxes = self._write_decisions(db, kept, now, owner, lease, removed=removed) if kept else {}
        return [outboxes.get(c.execution_id) for c in commits]

    def _write_decisions(self, db: psycopg.Connection[Any], commits: list[DecisionCommit], now: float,
                         owner: str | None, lease: float, *, removed: bool = False
                         ) -> dict[int, list[tuple[int, dict[str, Any]]]]:
        """``removed``: the consumed inbox rows and finished outbox rows are deleted already."""
        consumed = [] if removed else [i for c in commits for i in c.consumed]
        outbox_done = [] if removed else [i for c in commits for i in c.outbox_done]
        history: dict[tuple[int, int], tuple[Any, ...]] = {}  # a rewritten event once, its latest form
        timers, cancelled, closed, opened, commands = [], [], [], [], []
        for c in commits:
            d, x = c.decision, c.execution_id
            for h in d.history:
                history[(x, h["EventId"])] = (x, h["EventId"], h["Type"], h["StepName"], h["Time"],
                                              h["ScheduleEventId"], _dumps(h["EventDetail"]))
            if d.ended is None:  # an ended execution's timers all go (below): none is set, none singled out
                timers += [(x, t["due"], t["timer"], _dumps(t["event"])) for t in d.timers]
                cancelled += [(x, t) for t in d.cancelled_timers]
            gated = set(c.gated_tasks)  # deleted already, by the gate
            closed += [(x, t) for t in d.closed_tasks if t not in gated]
            opened += [(x, t["task"], t["token"], t["state"], t["step"], t["action"], t["mode"], now)
                       for t in d.opened_tasks]
            commands += [(x, command) for command in [*d.commands, *c.extra_commands]]
        with db.cursor() as cur:
            if consumed:
                cur.execute("DELETE FROM inbox WHERE id = ANY(%b::bigint[])", (consumed,))
            if outbox_done:
                cur.execute("DELETE FROM outbox WHERE id = ANY(%b::bigint[])", (outbox_done,))
            # one statement for every row kind (data-modifying CTEs, each given only when it has rows): they
            # touch different rows, so the one snapshot they share changes nothing against running them in turn
            parts: list[tuple[str, tuple[Any, ...]]] = []
            if history:
                parts.append((
                    "INSERT INTO history SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::text[], "
                    "%s::float8[], %b::bigint[], %b::text[]) ON CONFLICT (execution_id, event_id) "
                    "DO UPDATE SET type=excluded.type, step_name=excluded.step_name, time=excluded.time, "
                    "schedule_event_id=excluded.schedule_event_id, detail=excluded.detail",
                    _columns(list(history.values()), 7)))
            if cancelled:
                parts.append(("DELETE FROM inbox i USING unnest(%b::bigint[], %b::text[]) AS c(x, t) "
                              "WHERE i.execution_id = c.x AND i.timer_id = c.t", _columns(cancelled, 2)))
            if timers:
                parts.append(("INSERT INTO inbox (execution_id, due, timer_id, event) "
                              "SELECT * FROM unnest(%b::bigint[], %s::float8[], %b::text[], %b::text[])",
                              _columns(timers, 4)))
            if closed:
                parts.append(("DELETE FROM open_tasks o USING unnest(%b::bigint[], %b::text[]) AS c(x, t) "
                              "WHERE o.execution_id = c.x AND o.task_id = c.t", _columns(closed, 2)))
            if opened:
                latest = {(o[0], o[1]): o for o in opened}
                parts.append((
                    "INSERT INTO open_tasks SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], "
                    "%b::text[], %b::text[], %b::text[], %s::float8[]) ON CONFLICT (execution_id, task_id) "
                    "DO UPDATE SET token=excluded.token, state=excluded.state, step=excluded.step, "
                    "action=excluded.action, mode=excluded.mode, opened=excluded.opened",
                    _columns(list(latest.values()), 8)))
            running = [c for c in commits if c.decision.ended is None]
            if running:
                parts.append(("UPDATE executions e SET state=u.s FROM unnest(%b::bigint[], %b::text[]) AS u(x, s) "
                              "WHERE e.id = u.x", ([c.execution_id for c in running],
                                                    [_dumps(c.decision.state) for c in running])))
            ended = [c for c in commits if c.decision.ended is not None]
            if ended:
                rows = []
                for c in ended:
                    end = c.decision.ended
                    assert end is not None
                    rows.append((c.execution_id, end["status"], None if end["output"] is None else _dumps(end["output"]),
                                 end["error"], end["cause"], _dumps(c.decision.state)))
                ended_ids = [c.execution_id for c in ended]
                # the end notice rides on the update's RETURNING, which runs whether or not it is read;
                # NOTIFY is sent at commit, so a waiter never hears of an end that rolled back
                parts.append((
                    "UPDATE executions e SET status=u.st, output=u.o, error=u.er, cause=u.ca, stopped=%s, state=u.s "
                    "FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) "
                    "AS u(x, st, o, er, ca, s) WHERE e.id = u.x RETURNING pg_notify(%s, 'ended:' || e.id)",
                    (now, *_columns(rows, 6), CHANNEL)))
                # nothing more can happen to them: leftover timers would only wake them for nothing
                parts.append(("DELETE FROM inbox WHERE execution_id = ANY(%b::bigint[]) AND timer_id IS NOT NULL",
                              (ended_ids,)))
            outboxes: dict[int, list[tuple[int, dict[str, Any]]]] = {c.execution_id: [] for c in commits}
            texts = [_dumps(c) for _, c in commands]
            if commands:
                parts.append(("INSERT INTO outbox (execution_id, command, owner, lease_until) "
                              "SELECT x, c, %s::text, %s::float8 FROM unnest(%b::bigint[], %b::text[]) AS u(x, c) "
                              "RETURNING id, execution_id, command",
                              (owner, now + lease if owner else None, [x for x, _ in commands], texts)))
            if parts:
                sql = "WITH " + ", ".join(f"w{i} AS ({text})" for i, (text, _) in enumerate(parts)) + (
                    f" SELECT id, execution_id, command FROM w{len(parts) - 1}" if commands else " SELECT 1")
                rows = cur.execute(sql, tuple(arg for _, args in parts for arg in args)).fetchall()
            if commands:
                # RETURNING promises no order: each row goes back to its command by (execution, text);
                # equal commands of one execution are interchangeable
                places: dict[tuple[int, str], list[int]] = {}
                for n, ((x, _), text) in enumerate(zip(commands, texts, strict=True)):
                    places.setdefault((x, text), []).append(n)
                placed = sorted((places[(x, text)].pop(0), outbox_id) for outbox_id, x, text in rows)
                for n, outbox_id in placed:
                    x, command = commands[n]
                    outboxes[x].append((outbox_id, command))
        return outboxes

    def due_events_of(self, execution_ids: list[int], now: float) -> dict[int, list[tuple[int, dict[str, Any]]]]:
        found: dict[int, list[tuple[int, dict[str, Any]]]] = {x: [] for x in execution_ids}
        with self._read() as db:
            rows = db.execute("SELECT execution_id, id, event FROM inbox WHERE execution_id = ANY(%b::bigint[]) AND due <= %s "
                              "ORDER BY execution_id, due, id", (execution_ids, now)).fetchall()
        for x, inbox_id, event in rows:
            found[x].append((inbox_id, loads(event)))
        return found

    def get_executions(self, execution_ids: list[int]) -> dict[int, ExecutionRow]:
        with self._read() as db:
            rows = db.execute(f"SELECT {EXEC_COLUMNS} FROM executions WHERE id = ANY(%b::bigint[])",
                              (execution_ids,)).fetchall()
        return {r.id: r for r in map(execution_row, rows)}

    def release_executions(self, execution_ids: list[int], owner: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE executions SET owner=NULL, lease_until=NULL WHERE id = ANY(%b::bigint[]) AND owner=%s",
                       (execution_ids, owner))


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
