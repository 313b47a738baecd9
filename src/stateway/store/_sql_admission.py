"""Concurrency limits per flow and the admission of waiting executions. Both stores.

A flow's limit (``flow_limits``): at most ``max_running`` of its executions Running at once, and/or
at most ``starts_per_second`` admitted a second; ``key_expr`` (an expression on the input, such as
``$Input.customerId``) sorts its executions into keys that are served in turn. An execution of a
limited flow is written ``Starting``, with its key and without its start event; admission turns it
``Running`` and writes the start event, in one transaction.

No counters: the number running is counted from the executions table each time (a partial index
holds only the Running executions of limited flows), so an execution that ends, however it ends,
frees its slot, and a worker that dies holds none. Admission of one flow is serialized by a row
lock on its ``flow_limits`` row (PostgreSQL; SQLite's write lock covers the file). What is kept
per flow is only the round-robin position (the last key served) and the start rate's theoretical
arrival time, neither of which can hold a slot.
"""

from __future__ import annotations

import math
from typing import Any

from stateway.engine.messages import Start
from stateway.expr import EvaluationError, ExpressionError, compile_expression
from stateway.jsontext import dumps
from stateway.store._errors import FlowNotExists
from stateway.store._sql_base import SqlStore

LIMIT_FIELDS = ("max_running", "key_expr", "starts_per_second")
RATE_CREDIT = 0.1  # seconds of start rate that may be used at once (admissions come in passes)
_KEYS: dict[str, Any] = {}  # compiled key expressions, by source


def concurrency_key(key_expr: str, input_: Any) -> str:
    """The key an execution waits under: the expression's value on its input as text ('' without
    an expression, or when the value is missing: those executions share one key)."""
    if not key_expr:
        return ""
    expression = _KEYS.get(key_expr)
    if expression is None:
        expression = _KEYS[key_expr] = compile_expression(key_expr)
    try:
        value = expression.evaluate({"Input": input_})
    except (EvaluationError, ExpressionError, KeyError, TypeError):
        return ""
    if value is None:
        return ""
    return value if isinstance(value, str) else dumps(value)


class AdmissionMixin(SqlStore):
    # -- the limit -------------------------------------------------------------------------------------
    def set_flow_limit(self, flow_name: str, max_running: int | None, key_expr: str = "",
                       starts_per_second: float | None = None) -> dict[str, Any] | None:
        """Set (or, with neither a cap nor a rate, remove) the flow's limit; the new limit as
        :meth:`flow_limit` gives it. Executions waiting under a limit removed or raised are
        admitted by the next pass."""
        if key_expr:
            compile_expression(key_expr)  # ExpressionError before anything is stored
        sql = self._sql
        with self._tx() as db:
            if db.execute(sql("SELECT 1 FROM flows WHERE name=?"), (flow_name,)).fetchone() is None:
                raise FlowNotExists(f"the flow {flow_name!r} does not exist")
            if not max_running and not starts_per_second:
                db.execute(sql("DELETE FROM flow_limits WHERE flow_name=?"), (flow_name,))
                return None
            db.execute(sql(
                "INSERT INTO flow_limits (flow_name, max_running, key_expr, starts_per_second, tat) "
                "VALUES (?, ?, ?, ?, 0) ON CONFLICT (flow_name) DO UPDATE SET max_running=excluded.max_running, "
                "key_expr=excluded.key_expr, starts_per_second=excluded.starts_per_second"),
                (flow_name, max_running or None, key_expr or "", starts_per_second or None))
        return self.flow_limit(flow_name)

    def flow_limit(self, flow_name: str) -> dict[str, Any] | None:
        """``{"max_running", "key_expr", "starts_per_second"}``, or None when the flow has no limit."""
        with self._read() as db:
            row = db.execute(self._sql(f"SELECT {', '.join(LIMIT_FIELDS)} FROM flow_limits WHERE flow_name=?"),
                             (flow_name,)).fetchone()
        return None if row is None else dict(zip(LIMIT_FIELDS, row, strict=True))

    # -- waiting and admitted ------------------------------------------------------------------------
    def waiting_executions(self) -> dict[str, int]:
        """How many executions wait (``Starting``) per flow; only flows with some."""
        with self._read() as db:
            rows = db.execute("SELECT flow_name, COUNT(*) FROM executions WHERE status='Starting' "
                              "GROUP BY flow_name").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def admit_waiting(self, flow_name: str, now: float) -> list[int]:
        """Admit what the flow's limit allows now, fairly: the ids admitted (their start events written)."""
        with self._tx() as db:
            admitted = self._admit(db, flow_name, now)
            if admitted:
                self._notify(db, "work")
        return admitted

    def _may_start_now(self, db: Any, flow_name: str, now: float) -> bool:
        """In a start's transaction, before its insert: whether it may run at once (nothing of the
        flow waits, a slot is free, the rate allows it). Locks the flow's limit row until the
        transaction ends, so two starts do not both take the last slot."""
        sql = self._sql
        limit = db.execute(sql("SELECT max_running, starts_per_second, tat FROM flow_limits WHERE flow_name=?"
                               + self._FOR_UPDATE), (flow_name,)).fetchone()
        if limit is None:
            return True
        max_running, rate, tat = limit
        if rate and max(tat or 0.0, now) > now + RATE_CREDIT:
            return False
        if db.execute(sql("SELECT 1 FROM executions WHERE flow_name=? AND status='Starting' LIMIT 1"),
                      (flow_name,)).fetchone() is not None:
            return False  # they go first
        if max_running and db.execute(sql(
                "SELECT COUNT(*) FROM executions WHERE flow_name=? AND status='Running' "
                "AND concurrency_key IS NOT NULL"), (flow_name,)).fetchone()[0] >= max_running:
            return False
        if rate:
            db.execute(sql("UPDATE flow_limits SET tat=? WHERE flow_name=?"), (max(tat or 0.0, now) + 1.0 / rate,
                                                                              flow_name))
        return True

    def _admit(self, db: Any, flow_name: str, now: float) -> list[int]:
        """In the caller's transaction. Keys are served round robin (in key order, the key after the last
        one served, among those with executions waiting); within a key, oldest first."""
        sql = self._sql
        limit = db.execute(sql("SELECT max_running, starts_per_second, tat, last_key FROM flow_limits "
                               "WHERE flow_name=?" + self._FOR_UPDATE), (flow_name,)).fetchone()
        max_running, rate, tat, last_key = limit if limit is not None else (None, None, 0.0, None)
        heads = {k: i for k, i in db.execute(sql(
            "SELECT concurrency_key, MIN(id) FROM executions WHERE flow_name=? AND status='Starting' "
            "GROUP BY concurrency_key"), (flow_name,)).fetchall()}
        if not heads:
            return []
        free = math.inf
        if max_running:
            free = max_running - db.execute(sql(
                "SELECT COUNT(*) FROM executions WHERE flow_name=? AND status='Running' "
                "AND concurrency_key IS NOT NULL"), (flow_name,)).fetchone()[0]
        admitted: list[int] = []
        start = dumps(Start().to_wire())
        while free > 0 and heads:
            if rate:
                tat = max(tat or 0.0, now)
                if tat > now + RATE_CREDIT:
                    break
            after = last_key
            key = min(heads, key=lambda k: (after is not None and k <= after, k))  # the next key after the last
            execution_id = heads[key]
            if db.execute(sql("UPDATE executions SET status='Running' WHERE id=? AND status='Starting'"),
                          (execution_id,)).rowcount:
                db.execute(sql("INSERT INTO inbox (execution_id, due, event) VALUES (?, 0, ?)"), (execution_id, start))
                admitted.append(execution_id)
                free -= 1
                last_key = key
                if rate:
                    tat += 1.0 / rate
            following = db.execute(sql(
                "SELECT MIN(id) FROM executions WHERE flow_name=? AND status='Starting' AND concurrency_key=? "
                "AND id>?"), (flow_name, key, execution_id)).fetchone()
            if following is None or following[0] is None:
                del heads[key]
            else:
                heads[key] = following[0]
        if limit is not None and admitted:
            db.execute(sql("UPDATE flow_limits SET tat=?, last_key=? WHERE flow_name=?"), (tat or 0.0, last_key,
                                                                                          flow_name))
        return admitted
