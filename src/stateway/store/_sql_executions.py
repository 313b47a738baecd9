"""Executions: started once per name, read one by one, listed, paged for the console, pruned.
Both stores."""

from __future__ import annotations

from typing import Any

from stateway.engine.messages import Start
from stateway.jsontext import dumps, loads
from stateway.store._errors import ExecutionAlreadyExists, ExecutionNotExists, FlowNotExists, FlowNotStandard
from stateway.store._sql_admission import concurrency_key
from stateway.store._sql_base import SqlStore
from stateway.store._sql_rows import EXEC_COLUMNS, execution_row
from stateway.store._types import ExecutionRow

_FINAL = "('Succeeded', 'Failed', 'Stopped', 'TimedOut')"
_SUMMARY_COLUMNS = "id, flow_name, name, status, started, stopped, error, cause, parent_id"


class ExecutionsMixin(SqlStore):
    def create_execution(self, flow_name: str, name: str, input_: Any, now: float, *, parent_id: int | None = None,
                         parent_task: str | None = None, callback_token: str | None = None,
                         definition: str | None = None, flow_version: str = "", qualifier: str = "",
                         map_run: str = "", state: dict[str, Any] | None = None,
                         standard_only: bool = False) -> tuple[ExecutionRow, bool]:
        """Insert the execution and its start event in one transaction. Same name still running:
        that execution, not created. Same name finished: ExecutionAlreadyExists. ``definition`` is a
        published version's snapshot (or a Map Run's Processor) to run instead of the flow's current
        definition. ``standard_only``: the flow is read here (its mode, and its definition unless
        given), and an Express flow refused (``FlowNotStandard``), so a start reads its flow once."""
        with self._tx() as db:
            row, created = self._insert_execution(
                db, flow_name, name, input_, now, parent_id=parent_id, parent_task=parent_task,
                callback_token=callback_token, definition=definition, flow_version=flow_version, qualifier=qualifier,
                map_run=map_run, state=state, standard_only=standard_only)
        if row is None:
            raise ExecutionAlreadyExists(f"an execution named {name!r} of flow {flow_name!r} already ran")
        return row, created

    def _insert_execution(self, db: Any, flow_name: str, name: str, input_: Any, now: float, *,
                          parent_id: int | None = None, parent_task: str | None = None,
                          callback_token: str | None = None, definition: str | None = None, flow_version: str = "",
                          qualifier: str = "", map_run: str = "", state: dict[str, Any] | None = None,
                          standard_only: bool = False) -> tuple[ExecutionRow | None, bool]:
        """``create_execution`` in the caller's transaction; (None, False) for a name that ran already."""
        sql = self._sql
        # a definition given was read by the caller (the flow, one of its versions, a Map's Processor);
        # the flow's limit comes along (store/_sql_admission.py): a flow without one is started as before
        if standard_only:
            found = db.execute(sql("SELECT f.definition, l.key_expr, f.meta FROM flows f LEFT JOIN flow_limits l "
                                   "ON l.flow_name = f.name WHERE f.name=?"), (flow_name,)).fetchone()
            if found is not None and loads(found[2]).get("ExecutionMode") == "Express":
                raise FlowNotStandard(f"the flow {flow_name!r} is an Express flow")
            flow = None if found is None else (found[0] if definition is None else definition, found[1])
        elif definition is not None:
            limit = db.execute(sql("SELECT key_expr FROM flow_limits WHERE flow_name=?"), (flow_name,)).fetchone()
            flow = (definition, None if limit is None else limit[0])
        else:
            flow = db.execute(sql("SELECT f.definition, l.key_expr FROM flows f LEFT JOIN flow_limits l "
                                  "ON l.flow_name = f.name WHERE f.name=?"), (flow_name,)).fetchone()
        if flow is None:
            raise FlowNotExists(f"the flow {flow_name!r} does not exist")
        key_expr = flow[1]
        waits = key_expr is not None and not self._may_start_now(db, flow_name, now)  # type: ignore[attr-defined]
        # two nodes starting the same name race here: one inserts, the other finds it
        inserted = db.execute(sql(
            "INSERT INTO executions (flow_name, name, status, input, started, definition, parent_id, "
            "parent_task, callback_token, flow_version, qualifier, map_run, state, concurrency_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (flow_name, name) DO NOTHING RETURNING {EXEC_COLUMNS}"),
            (flow_name, name, "Starting" if waits else "Running", dumps(input_), now, flow[0], parent_id,
             parent_task, callback_token, flow_version, qualifier, map_run, None if state is None else dumps(state),
             None if key_expr is None else concurrency_key(key_expr, input_))).fetchone()
        if inserted is not None and waits:  # until the limit admits it: perhaps now, after those before it
            if self._admit(db, flow_name, now):  # type: ignore[attr-defined]
                self._notify(db, "work")
            return self._execution(db, inserted[0]), True
        if inserted is not None:
            db.execute(sql("INSERT INTO inbox (execution_id, due, event) VALUES (?, 0, ?)"),
                       (inserted[0], dumps(Start().to_wire())))
            self._notify(db, "work")
            return execution_row(inserted), True
        row = db.execute(sql(f"SELECT {EXEC_COLUMNS} FROM executions WHERE flow_name=? AND name=?"),
                         (flow_name, name)).fetchone()
        if row is None or row[3] not in ("Running", "Starting"):
            return None, False
        return execution_row(row), False

    def _execution(self, db: Any, execution_id: int) -> ExecutionRow:
        row = db.execute(self._sql(f"SELECT {EXEC_COLUMNS} FROM executions WHERE id=?"), (execution_id,)).fetchone()
        if row is None:
            raise ExecutionNotExists(f"no execution with id {execution_id}")
        return execution_row(row)

    def get_execution(self, execution_id: int) -> ExecutionRow:
        with self._read() as db:
            return self._execution(db, execution_id)

    def find_execution(self, flow_name: str, name: str) -> ExecutionRow | None:
        with self._read() as db:
            row = db.execute(self._sql(f"SELECT {EXEC_COLUMNS} FROM executions WHERE flow_name=? AND name=?"),
                             (flow_name, name)).fetchone()
        return execution_row(row) if row else None

    def child_execution(self, parent_id: int, parent_task: str) -> ExecutionRow | None:
        with self._read() as db:
            row = db.execute(self._sql(f"SELECT {EXEC_COLUMNS} FROM executions WHERE parent_id=? AND parent_task=?"),
                             (parent_id, parent_task)).fetchone()
        return execution_row(row) if row else None

    def count_executions(self, flow_name: str, status: str) -> int:
        with self._read() as db:
            return int(db.execute(self._sql("SELECT COUNT(*) FROM executions WHERE flow_name=? AND status=?"),
                                  (flow_name, status)).fetchone()[0])

    def list_executions(self, flow_name: str | None = None, status: str | None = None,
                        parent_id: int | None = None, *, name_prefix: str = "", started_from: float | None = None,
                        started_to: float | None = None, offset: int = 0, limit: int = -1,
                        with_state: bool = True, flow_version: str | None = None,
                        qualifier: str | None = None, map_run: str | None = None) -> list[ExecutionRow]:
        """Executions in start order, filtered in SQL; ``with_state=False`` leaves the (large) state out."""
        clauses, args = self._filters(flow_name=flow_name, status=status, parent_id=parent_id,
                                      flow_version=flow_version, qualifier=qualifier, map_run=map_run,
                                      name_prefix=name_prefix, started_from=started_from, started_to=started_to)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        columns = EXEC_COLUMNS if with_state else EXEC_COLUMNS.replace(" state,", " NULL,")
        with self._read() as db:
            rows = db.execute(self._sql(f"SELECT {columns} FROM executions {where} ORDER BY id LIMIT ? OFFSET ?"),
                              [*args, limit if limit >= 0 else self._NO_LIMIT, offset]).fetchall()
        return [execution_row(r) for r in rows]

    def page_executions(self, *, flow_name: str | None = None, status: str | None = None, name_prefix: str = "",
                        started_from: float | None = None, started_to: float | None = None,
                        parent_id: int | None = None, before_id: int | None = None, after_id: int | None = None,
                        limit: int = 50) -> list[dict[str, Any]]:
        """Execution summaries (no input, output, state), newest first; keyset paging on the id:
        ``before_id`` gives the next older page, ``after_id`` the next newer one (still newest first)."""
        clauses, args = self._filters(flow_name=flow_name, status=status, parent_id=parent_id,
                                      name_prefix=name_prefix, started_from=started_from, started_to=started_to)
        for clause, value in (("id < ?", before_id), ("id > ?", after_id)):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "ASC" if after_id is not None and before_id is None else "DESC"
        with self._read() as db:
            rows = db.execute(self._sql(f"SELECT {_SUMMARY_COLUMNS} FROM executions {where} ORDER BY id {order} "
                                        "LIMIT ?"), [*args, limit]).fetchall()
        if order == "ASC":
            rows.reverse()
        keys = [c.strip() for c in _SUMMARY_COLUMNS.split(",")]
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def _filters(self, *, name_prefix: str, started_from: float | None, started_to: float | None,
                 **equal: Any) -> tuple[list[str], list[Any]]:
        clauses, args = [], []
        for column, value in equal.items():
            if value is not None:
                clauses.append(f"{column}=?")
                args.append(value)
        if name_prefix:
            clause, more = self._name_prefix(name_prefix)
            clauses.append(clause)
            args += more
        for clause, value in (("started >= ?", started_from), ("started <= ?", started_to)):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        return clauses, args

    def orphan_executions(self) -> list[ExecutionRow]:
        """Running children whose parent execution has ended: the level-triggered cancel finds these."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {', '.join('c.' + c.strip() for c in EXEC_COLUMNS.split(','))} FROM executions c "
                "JOIN executions p ON p.id = c.parent_id "
                "WHERE c.status IN ('Running', 'Starting') AND p.status NOT IN ('Running', 'Starting')").fetchall()
        return [execution_row(r) for r in rows]

    def prune_ended_executions(self, ended_before: float, keep: int) -> int:
        """Delete ended executions (with their history and leftovers) stopped before ``ended_before``
        or beyond the newest ``keep``; running ones stay. For the in-memory Express store."""
        with self._tx() as db:
            ids = [r[0] for r in db.execute(self._sql(
                f"SELECT id FROM executions WHERE status IN {_FINAL} AND (stopped < ? OR id NOT IN "
                f"(SELECT id FROM executions WHERE status IN {_FINAL} ORDER BY id DESC LIMIT ?))"),
                (ended_before, keep)).fetchall()]
            if ids:
                for table, column in (("executions", "id"), ("history", "execution_id"), ("inbox", "execution_id"),
                                      ("open_tasks", "execution_id"), ("outbox", "execution_id")):
                    clause, arg = self._in(column, ids)
                    db.execute(self._sql(f"DELETE FROM {table} WHERE {clause}"), (arg,))
        return len(ids)
