"""Operating executions at scale: redrive (a conditional flip back to Running), deletion with
everything an execution left behind (retention and bulk delete), and bulk operations as durable
jobs paged by keyset on the execution id. Written once for both stores."""

from __future__ import annotations

from typing import Any

from stateway.engine._redrive import redrivable
from stateway.engine.messages import Redrive, Stop
from stateway.jsontext import dumps, loads
from stateway.store._errors import StoreError
from stateway.store._sql_base import SqlStore

ENDED = ("Succeeded", "Failed", "Stopped", "TimedOut")
REDRIVABLE = ("Failed", "Stopped", "TimedOut")
_ENDED_SQL = "('Succeeded', 'Failed', 'Stopped', 'TimedOut')"
_REDRIVABLE_SQL = "('Failed', 'Stopped', 'TimedOut')"
# the rows an execution leaves, besides its own, by the column naming it
_LEFTOVERS = (("history", "execution_id"), ("inbox", "execution_id"), ("open_tasks", "execution_id"),
              ("outbox", "execution_id"), ("task_logs", "execution_id"), ("invocations", "execution_id"),
              ("function_dispatches", "execution_id"))
BULK_FIELDS = ("id", "operation", "filter", "status", "created", "updated", "max_id", "cursor", "total", "n_done",
               "n_skipped", "n_failed", "owner", "lease_until", "reason")
BULK_OPERATIONS = ("stop", "redrive", "delete")
FILTER_KEYS = ("flow_name", "status", "name_prefix", "started_from", "started_to", "error", "map_run")


class BulkOperationNotExists(StoreError):
    code = "BulkOperationNotExists"


class OpsMixin(SqlStore):
    # -- redrive -----------------------------------------------------------------------------------
    def redrive_execution(self, execution_id: int, now: float, ended_after: float) -> int | None:
        """Back to Running with a ``redrive`` event, in one transaction, if it ended Failed, Stopped or
        TimedOut at or after ``ended_after``; its redrive count, or None when it was not (a concurrent
        redrive got there first: the conditional update matches once)."""
        with self._tx() as db:
            return self._redrive(db, execution_id, now, ended_after)

    def _redrive(self, db: Any, execution_id: int, now: float, ended_after: float) -> int | None:
        sql = self._sql
        row = db.execute(sql(
            "UPDATE executions SET status='Running', output=NULL, error=NULL, cause=NULL, stopped=NULL, "
            f"redrive_count=redrive_count+1, redriven=? WHERE id=? AND status IN {_REDRIVABLE_SQL} AND stopped >= ? "
            "RETURNING redrive_count"), (now, execution_id, ended_after)).fetchone()
        if row is None:
            return None
        db.execute(sql("INSERT INTO inbox (execution_id, due, event) VALUES (?, 0, ?)"),
                   (execution_id, dumps(Redrive(int(row[0])).to_wire())))
        self._notify(db, "work")
        return int(row[0])

    # -- deletion ----------------------------------------------------------------------------------
    def expired_executions(self, flow_name: str, ended_before: float, limit: int) -> list[int]:
        """Ended executions of a flow that ended before ``ended_before``, oldest end first: a range on
        the ``(flow_name, stopped)`` index, never a scan of the table."""
        with self._read() as db:
            rows = db.execute(self._sql(
                f"SELECT id FROM executions WHERE flow_name=? AND stopped < ? AND status IN {_ENDED_SQL} "
                "ORDER BY stopped LIMIT ?"), (flow_name, ended_before, limit)).fetchall()
        return [r[0] for r in rows]

    def delete_executions(self, execution_ids: list[int]) -> int:
        """Delete those of ``execution_ids`` that have ended (and have no running child), with their
        history, leftovers, function logs, invocations and Map Runs, in one transaction; running ones
        stay. How many went."""
        if not execution_ids:
            return 0
        with self._tx() as db:
            return len(self._delete(db, execution_ids))

    def _delete(self, db: Any, execution_ids: list[int]) -> list[int]:
        sql = self._sql
        clause, arg = self._in("id", execution_ids)
        # an ended parent whose children still run stays until the sweep has stopped them: deleted, it
        # would leave them running with nobody to stop them
        ids = [r[0] for r in db.execute(sql(
            f"SELECT id FROM executions e WHERE {clause} AND status IN {_ENDED_SQL} AND NOT EXISTS "
            "(SELECT 1 FROM executions c WHERE c.parent_id = e.id AND c.status IN ('Running', 'Starting'))"
            + self._FOR_UPDATE), (arg,)).fetchall()]
        if not ids:
            return []
        clause, arg = self._in("execution_id", ids)
        runs = [r[0] for r in db.execute(sql(f"SELECT name FROM map_runs WHERE {clause}"), (arg,)).fetchall()]
        if runs:
            run_clause, run_arg = self._in("run", runs)
            db.execute(sql(f"DELETE FROM map_run_items WHERE {run_clause}"), (run_arg,))
            db.execute(sql(f"DELETE FROM map_runs WHERE {clause}"), (arg,))
        for table, column in _LEFTOVERS:
            where, value = self._in(column, ids)
            db.execute(sql(f"DELETE FROM {table} WHERE {where}"), (value,))
        where, value = self._in("id", ids)
        db.execute(sql(f"DELETE FROM executions WHERE {where}"), (value,))
        return ids

    # -- bulk operations -----------------------------------------------------------------------------
    def _bulk_where(self, filter_: dict[str, Any]) -> tuple[list[str], list[Any]]:
        equal = {k: filter_.get(k) or None for k in ("flow_name", "status", "error", "map_run")}
        return self._filters(name_prefix=filter_.get("name_prefix") or "",  # type: ignore[attr-defined]
                             started_from=filter_.get("started_from"), started_to=filter_.get("started_to"), **equal)

    def create_bulk_operation(self, operation_id: str, operation: str, filter_: dict[str, Any], now: float
                              ) -> dict[str, Any]:
        """A Running job over the executions matching ``filter_`` now (those started later are not
        part of it: the job ends at today's highest id)."""
        sql = self._sql
        clauses, args = self._bulk_where(filter_)
        with self._tx() as db:
            max_id = db.execute(sql("SELECT COALESCE(MAX(id), 0) FROM executions")).fetchone()[0]
            where = " AND ".join([*clauses, "id <= ?"])
            total = db.execute(sql(f"SELECT COUNT(*) FROM executions WHERE {where}"), [*args, max_id]).fetchone()[0]
            values = {"id": operation_id, "operation": operation, "filter": dumps(filter_), "status": "Running",
                      "created": now, "updated": now, "max_id": max_id, "cursor": 0, "total": total, "n_done": 0,
                      "n_skipped": 0, "n_failed": 0, "owner": None, "lease_until": None, "reason": None}
            db.execute(sql(f"INSERT INTO bulk_operations ({', '.join(BULK_FIELDS)}) "
                           f"VALUES ({', '.join('?' * len(BULK_FIELDS))})"), tuple(values[f] for f in BULK_FIELDS))
            self._notify(db, "work")
        return self.get_bulk_operation(operation_id)

    def _bulk(self, db: Any, operation_id: str, *, lock: bool = False) -> dict[str, Any]:
        row = db.execute(self._sql(f"SELECT {', '.join(BULK_FIELDS)} FROM bulk_operations WHERE id=?"
                                   + (self._FOR_UPDATE if lock else "")), (operation_id,)).fetchone()
        if row is None:
            raise BulkOperationNotExists(f"no bulk operation {operation_id!r}")
        job = dict(zip(BULK_FIELDS, row, strict=True))
        job["filter"] = loads(job["filter"])
        return job

    def get_bulk_operation(self, operation_id: str) -> dict[str, Any]:
        with self._read() as db:
            return self._bulk(db, operation_id)

    def list_bulk_operations(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        where, args = ("WHERE status=?", [status]) if status else ("", [])
        with self._read() as db:
            ids = [r[0] for r in db.execute(self._sql(
                f"SELECT id FROM bulk_operations {where} ORDER BY created DESC, id LIMIT ?"), [*args, limit]).fetchall()]
            return [self._bulk(db, i) for i in ids]

    def cancel_bulk_operation(self, operation_id: str, now: float) -> dict[str, Any]:
        """A Running job stops after the page in progress; an ended one is left as it is."""
        with self._tx() as db:
            job = self._bulk(db, operation_id, lock=True)
            if job["status"] == "Running":
                db.execute(self._sql("UPDATE bulk_operations SET status='Cancelled', updated=? WHERE id=?"),
                           (now, operation_id))
            return self._bulk(db, operation_id)

    def claim_bulk_operation(self, owner: str, now: float, lease: float) -> str | None:
        """A Running job nobody holds (or whose holder's lease ran out), oldest first; ours until
        ``now + lease``. A job taken over carries on from its cursor."""
        sql = self._sql
        with self._tx() as db:
            row = db.execute(sql("SELECT id FROM bulk_operations WHERE status='Running' AND (owner IS NULL OR "
                                 "owner=? OR lease_until <= ?) ORDER BY created LIMIT 1" + self._SKIP_LOCKED),
                             (owner, now)).fetchone()
            if row is None:
                return None
            db.execute(sql("UPDATE bulk_operations SET owner=?, lease_until=? WHERE id=?"), (owner, now + lease, row[0]))
            return str(row[0])

    def release_bulk_operations(self) -> int:
        """Every job's claim, free again: for a process that owns its database (SQLite), whose
        predecessor's claims died with it."""
        with self._tx() as db:
            return db.execute(self._sql("UPDATE bulk_operations SET owner=NULL, lease_until=NULL "
                                        "WHERE owner IS NOT NULL")).rowcount

    def bulk_step(self, operation_id: str, owner: str, now: float, lease: float, page: int,
                  redrive_after: float) -> dict[str, Any]:
        """One page of a job in one transaction: the next ``page`` matching executions after the
        cursor, the operation applied to each, the cursor and the counts moved on together; so a
        crash or a takeover repeats nothing and skips nothing. Fenced: only the job's holder moves it."""
        sql = self._sql
        with self._tx() as db:
            job = self._bulk(db, operation_id, lock=True)
            if job["status"] != "Running" or job["owner"] != owner:
                return job
            clauses, args = self._bulk_where(job["filter"])
            where = " AND ".join([*clauses, "id > ?", "id <= ?"])
            state = "state" if job["operation"] == "redrive" else "NULL"
            rows = db.execute(sql(f"SELECT id, status, stopped, {state} FROM executions WHERE {where} "
                                  f"ORDER BY id LIMIT ?"), [*args, job["cursor"], job["max_id"], page]).fetchall()
            done = skipped = failed = 0
            op = job["operation"]
            if op == "stop":
                live = [r[0] for r in rows if r[1] in ("Running", "Starting")]
                event = dumps(Stop("", f"bulk operation {operation_id}").to_wire())
                db.cursor().executemany(sql("INSERT INTO inbox (execution_id, due, event) VALUES (?, 0, ?)"),
                                        [(x, event) for x in live])
                if live:
                    self._notify(db, "work")
                done, skipped = len(live), len(rows) - len(live)
            elif op == "delete":
                done = len(self._delete(db, [r[0] for r in rows])) if rows else 0
                skipped = len(rows) - done
            else:
                for x, status, stopped, text in rows:
                    if status not in REDRIVABLE:
                        skipped += 1
                    elif (stopped or 0) < redrive_after or not redrivable(loads(text) if text else None):
                        failed += 1
                    elif self._redrive(db, x, now, redrive_after) is None:
                        skipped += 1
                    else:
                        done += 1
            finished = len(rows) < page
            cursor = rows[-1][0] if rows else job["cursor"]
            db.execute(sql("UPDATE bulk_operations SET cursor=?, n_done=n_done+?, n_skipped=n_skipped+?, "
                           "n_failed=n_failed+?, updated=?, lease_until=?, status=? WHERE id=?"),
                       (cursor, done, skipped, failed, now, now + lease, "Succeeded" if finished else "Running",
                        operation_id))
            return self._bulk(db, operation_id)

    # -- a redriven distributed Map ----------------------------------------------------------------
    def carry_over_map_run(self, name: str, previous: str) -> int:
        """The run ``name`` redrives ``previous``: items that succeeded there are succeeded here, with
        their output, before any child starts (their counts carried over). Only pending items change,
        so doing it again after a crash changes nothing. How many items were carried over."""
        sql = self._sql
        with self._tx() as db:
            db.execute(sql("SELECT name FROM map_runs WHERE name=?" + self._FOR_UPDATE), (name,)).fetchone()
            kept = db.execute(sql("SELECT idx, output FROM map_run_items WHERE run=? AND status='succeeded'"),
                              (previous,)).fetchall()
            moved = count = 0
            for idx, output in kept:
                row = db.execute(sql("UPDATE map_run_items SET status='succeeded', output=? WHERE run=? AND idx=? "
                                     "AND status='pending' RETURNING weight"), (output, name, idx)).fetchone()
                if row is not None:
                    moved += row[0]
                    count += 1
            if moved:
                db.execute(sql("UPDATE map_runs SET n_pending=n_pending-?, n_succeeded=n_succeeded+? WHERE name=?"),
                           (moved, moved, name))
        return count
