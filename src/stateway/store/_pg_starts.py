"""PostgreSQL's ``create_execution`` in one statement, in autocommit (one round trip, one durable
commit), where the shared SQL (``_sql_executions``) takes seven: BEGIN, the request's signature
nonce, the flow's limit, the execution, its start event, the wake-up notice, COMMIT. Every
StartExecution and every child execution a flow starts passes here.

The statement covers the common case only, and writes nothing otherwise: a flow with a concurrency
limit (its key and admission are computed in Python), a flow that does not exist, an Express flow
where a Standard one was asked for (``standard_only``: StartExecution's flow is read here, not
before). Those go the shared way, which also says why. A request's nonce (``nonce_in_next_write``) goes into the same
statement, and a replay inserts nothing."""

from __future__ import annotations

from typing import Any

from stateway.engine.messages import Start
from stateway.jsontext import dumps
from stateway.store._errors import ExecutionAlreadyExists
from stateway.store._sql_executions import ExecutionsMixin
from stateway.store._sql_nonces import NoncesMixin
from stateway.store._sql_rows import EXEC_COLUMNS, execution_row
from stateway.store._types import ExecutionRow

_START_EVENT = dumps(Start().to_wire())
_GIVEN = "SELECT %(d)s::text AS definition"
_READ = "SELECT definition FROM flows WHERE name=%(f)s"
# standard_only: the flow read here, its definition unless one is given, nothing for an Express flow
_STANDARD = ("SELECT COALESCE(%(d)s::text, definition) AS definition FROM flows WHERE name=%(f)s "
             "AND (meta::jsonb ->> 'ExecutionMode') IS DISTINCT FROM 'Express'")
_NONCE = ("n AS (INSERT INTO nonces (nonce, seen) SELECT %(n)s::text, %(seen)s::float8 "
          "WHERE NOT EXISTS (SELECT 1 FROM lim) AND EXISTS (SELECT 1 FROM f) "
          "ON CONFLICT (nonce) DO UPDATE SET seen=excluded.seen WHERE nonces.seen < %(old)s::float8 RETURNING 1), ")
# parameters carry their types: an INSERT fed by a SELECT does not take them from its columns
_START = (
    "WITH lim AS (SELECT 1 FROM flow_limits WHERE flow_name=%(f)s), f AS ({flow}), {nonce}"
    "ins AS (INSERT INTO executions (flow_name, name, status, input, started, definition, parent_id, parent_task, "
    "callback_token, flow_version, qualifier, map_run, state) "
    "SELECT %(f)s::text, %(name)s::text, 'Running', %(input)s::text, %(now)s::float8, f.definition, %(pid)s::bigint, "
    "%(ptask)s::text, %(cb)s::text, %(ver)s::text, %(qual)s::text, %(mr)s::text, %(state)s::text FROM f "
    "WHERE NOT EXISTS (SELECT 1 FROM lim){gate} "
    f"ON CONFLICT (flow_name, name) DO NOTHING RETURNING {EXEC_COLUMNS}), "
    "q AS (INSERT INTO inbox (execution_id, due, event) SELECT id, 0, %(start)s::text FROM ins RETURNING execution_id) "
    "SELECT (SELECT count(*) FROM lim), (SELECT count(*) FROM f), {accepted}, "
    "(SELECT count(pg_notify(%(c)s, 'work')) FROM q), ins.* FROM (SELECT 1) AS one LEFT JOIN ins ON true")
STATEMENTS = {(flow, nonce): _START.format(flow=flow, nonce=_NONCE if nonce else "",
                                          gate=" AND EXISTS (SELECT 1 FROM n)" if nonce else "",
                                          accepted="(SELECT count(*) FROM n)" if nonce else "1")
              for flow in (_GIVEN, _READ, _STANDARD) for nonce in (False, True)}


class PgStartsMixin(ExecutionsMixin, NoncesMixin):
    _CHANNEL = ""  # the LISTEN/NOTIFY channel (PostgresStore's)

    def create_execution(self, flow_name: str, name: str, input_: Any, now: float, *, parent_id: int | None = None,
                         parent_task: str | None = None, callback_token: str | None = None,
                         definition: str | None = None, flow_version: str = "", qualifier: str = "",
                         map_run: str = "", state: dict[str, Any] | None = None,
                         standard_only: bool = False) -> tuple[ExecutionRow, bool]:
        pending = self._pending_nonce()
        args: dict[str, Any] = {
            "f": flow_name, "name": name, "input": dumps(input_), "now": now, "d": definition, "pid": parent_id,
            "ptask": parent_task, "cb": callback_token, "ver": flow_version, "qual": qualifier, "mr": map_run,
            "state": None if state is None else dumps(state), "start": _START_EVENT, "c": self._CHANNEL}
        if pending is not None:
            args.update(n=pending.nonce, seen=pending.now, old=pending.now - pending.window)
        with self._read() as db:  # autocommit: the one statement is its own transaction, committed durably
            flow = _STANDARD if standard_only else _READ if definition is None else _GIVEN
            row = db.execute(STATEMENTS[flow, pending is not None], args).fetchone()
        limited, found, accepted = row[0], row[1], row[2]
        if limited or not found:  # nothing was written: the shared way, in a transaction (and its errors)
            return super().create_execution(
                flow_name, name, input_, now, parent_id=parent_id, parent_task=parent_task,
                callback_token=callback_token, definition=definition, flow_version=flow_version,
                qualifier=qualifier, map_run=map_run, state=state, standard_only=standard_only)
        if pending is not None:
            self._nonce_written(pending, bool(accepted))  # NonceReplayed for a replay: nothing was inserted
        if row[4] is not None:
            return execution_row(row[4:]), True
        existing = self.find_execution(flow_name, name)  # two nodes starting one name race: one inserts
        if existing is None or existing.status not in ("Running", "Starting"):
            raise ExecutionAlreadyExists(f"an execution named {name!r} of flow {flow_name!r} already ran")
        return existing, False
