"""Map Runs (versions-and-maprun.md §4.5-§4.9): the run, with per-status item counts kept as
counters, and one row per child (an item or a batch, weighted by its item count). Every change is
conditional on the current status under the run's row lock, so concurrent child ends on any number
of workers never double-start, double-count or double-finish. Written once for both stores."""

from __future__ import annotations

import time
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from stateway.engine import new_execution_state
from stateway.engine.messages import Start
from stateway.jsontext import dumps, loads
from stateway.store._errors import MapRunNotExists
from stateway.store._sql_base import SqlStore

RUN_FIELDS = ("name", "execution_id", "task_id", "flow_name", "flow_version", "status", "concurrency",
              "tolerated_count", "tolerated_percentage", "execution_mode", "definition", "started", "stopped",
              "error", "cause", "n_pending", "n_running", "n_succeeded", "n_failed", "n_aborted", "live", "globals",
              "writer")
COUNTERS = {"pending": "n_pending", "running": "n_running", "succeeded": "n_succeeded", "failed": "n_failed",
            "aborted": "n_aborted"}


def tolerance_exceeded(run: dict[str, Any]) -> bool:
    """§4.6: more failed items than ToleratedFailureCount, or a larger share than the percentage
    (exactly, no float rounding); with neither set, any failure."""
    failed, total = run["n_failed"], sum(run[c] for c in COUNTERS.values())
    count, percentage = run["tolerated_count"], run["tolerated_percentage"]
    if not failed:
        return False
    if count is None and percentage is None:
        return True
    return (count is not None and failed > count) or (
        percentage is not None and failed * 100 > Fraction(str(percentage)) * total)


def map_child(run: dict[str, Any], idx: int, child_input: Any, now: float) -> tuple[str, str, dict[str, Any]]:
    """A child's name, callback token and starting state (versions-and-maprun.md §4.5): its own
    execution, a copy of the parent's $Global, and $Context.Map (its item and the run)."""
    name = f"{run['name']}-{idx}"
    globals_ = run["globals"]
    state = {**new_execution_state(name, run["flow_name"], child_input, now),
             "globals": loads(globals_) if isinstance(globals_, str) else globals_,
             "map": {"Item": {"Index": idx, "Value": child_input}, "RunName": run["name"]}}
    return name, f"maprun:{run['name']}:{idx}", state


# (index, succeeded, output, error, cause) of a child that ended
ItemEnd = tuple[int, bool, Any, str, str]


def item_counts(run: dict[str, Any]) -> dict[str, int]:
    counts = {"Pending": run["n_pending"], "Running": run["n_running"], "Succeed": run["n_succeeded"],
              "Failed": run["n_failed"], "Aborted": run["n_aborted"]}
    counts["Total"] = sum(counts.values())
    return counts


class MapRunsMixin(SqlStore):
    def create_map_run(self, run: dict[str, Any], children: list[Any], weights: list[int]) -> bool:
        """Insert the run (Running) and its children (pending); False if it exists already."""
        sql = self._sql
        values = {**run, "status": "Running", "started": time.time(), "stopped": None, "error": None, "cause": None,
                  "n_pending": sum(weights), "n_running": 0, "n_succeeded": 0, "n_failed": 0, "n_aborted": 0,
                  "live": 0, "writer": run.get("writer")}
        with self._tx() as db:
            if db.execute(sql("SELECT 1 FROM map_runs WHERE name=?"), (run["name"],)).fetchone():
                return False
            db.execute(sql(f"INSERT INTO map_runs ({', '.join(RUN_FIELDS)}) VALUES ({', '.join('?' * len(RUN_FIELDS))})"),
                       tuple(values[f] for f in RUN_FIELDS))
            if self._ARRAYS:
                db.execute(sql("INSERT INTO map_run_items (run, idx, status, weight, input) SELECT ?, i - 1, "
                               "'pending', w, t FROM unnest(?::int[], %b::text[]) WITH ORDINALITY AS u(w, t, i)"),
                           (run["name"], list(weights), [dumps(child) for child in children]))
            else:
                db.cursor().executemany(
                    sql("INSERT INTO map_run_items (run, idx, status, weight, input) VALUES (?, ?, 'pending', ?, ?)"),
                    [(run["name"], i, w, dumps(child))
                     for i, (child, w) in enumerate(zip(children, weights, strict=True))])
        return True

    def _run(self, db: Any, name: str, *, lock: bool = False) -> dict[str, Any]:
        row = db.execute(self._sql(f"SELECT {', '.join(RUN_FIELDS)} FROM map_runs WHERE name=?"
                                   + (self._FOR_UPDATE if lock else "")), (name,)).fetchone()
        if row is None:
            raise MapRunNotExists(f"no Map Run named {name!r}")
        run = dict(zip(RUN_FIELDS, row, strict=True))
        run["counts"] = item_counts(run)
        return run

    def get_map_run(self, name: str) -> dict[str, Any]:
        with self._read() as db:
            return self._run(db, name)

    def running_map_runs(self) -> list[str]:
        with self._read() as db:
            return [r[0] for r in db.execute(self._sql("SELECT name FROM map_runs WHERE status='Running'")).fetchall()]

    def _claim(self, db: Any, run: dict[str, Any]) -> list[tuple[int, Any]]:
        sql = self._sql
        free = run["concurrency"] - run["live"]
        if run["status"] != "Running" or free <= 0 or run["n_pending"] == 0 or tolerance_exceeded(run):
            return []
        picked = db.execute(sql("SELECT idx, input, weight FROM map_run_items WHERE run=? AND status='pending' "
                                "ORDER BY idx LIMIT ?"), (run["name"], free)).fetchall()
        if not picked:
            return []
        clause, arg = self._in("idx", [idx for idx, _, _ in picked])
        db.execute(sql(f"UPDATE map_run_items SET status='running' WHERE run=? AND {clause}"), (run["name"], arg))
        moved = sum(w for _, _, w in picked)
        db.execute(sql("UPDATE map_runs SET n_pending=n_pending-?, n_running=n_running+?, live=live+? WHERE name=?"),
                   (moved, moved, len(picked), run["name"]))
        run.update(n_pending=run["n_pending"] - moved, n_running=run["n_running"] + moved, live=run["live"] + len(picked))
        run["counts"] = item_counts(run)
        return [(idx, loads(text)) for idx, text, _ in picked]

    def claim_map_items(self, name: str) -> list[tuple[int, Any]]:
        """Mark pending children running, in index order, up to the run's concurrency."""
        with self._tx() as db:
            return self._claim(db, self._run(db, name, lock=True))

    def running_map_items(self, name: str) -> list[tuple[int, Any]]:
        with self._read() as db:
            rows = db.execute(self._sql("SELECT idx, input FROM map_run_items WHERE run=? AND status='running' "
                                        "ORDER BY idx"), (name,)).fetchall()
        return [(idx, loads(text)) for idx, text in rows]

    def map_item_ended(self, name: str, idx: int, ok: bool, output: Any, error: str, cause: str
                       ) -> tuple[dict[str, Any], list[tuple[int, Any]]]:
        """Record a child's end (once), then claim what the concurrency frees, unless the run ended or
        its tolerance is exceeded: one transaction. Returns the run and the children to start."""
        sql = self._sql
        with self._tx() as db:
            run = self._run(db, name, lock=True)
            row = db.execute(sql("SELECT weight FROM map_run_items WHERE run=? AND idx=? AND status='running'"),
                             (name, idx)).fetchone()
            if row is None or run["status"] != "Running":
                return run, []
            status = "succeeded" if ok else "failed"
            db.execute(sql("UPDATE map_run_items SET status=?, output=?, error=?, cause=? WHERE run=? AND idx=?"),
                       (status, dumps(output) if ok else None, None if ok else error, None if ok else cause, name, idx))
            column = COUNTERS[status]
            db.execute(sql(f"UPDATE map_runs SET n_running=n_running-?, {column}={column}+?, live=live-1 WHERE name=?"),
                       (row[0], row[0], name))
            run.update({"n_running": run["n_running"] - row[0], column: run[column] + row[0], "live": run["live"] - 1})
            run["counts"] = item_counts(run)
            return run, self._claim(db, run)

    def map_run_results(self, name: str) -> list[Any]:
        """One entry per child in order: its output, or {Code, Detail} for a tolerated failure."""
        with self._read() as db:
            rows = db.execute(self._sql("SELECT status, output, error, cause FROM map_run_items WHERE run=? "
                                        "ORDER BY idx"), (name,)).fetchall()
        return [loads(out) if status == "succeeded" else {"Code": err or "", "Detail": cause or ""}
                for status, out, err, cause in rows]

    def map_run_records(self, name: str) -> list[tuple[int, str, Any, Any, str | None, str | None]]:
        """Every child in order: index, status, input, output, error, cause."""
        with self._read() as db:
            rows = db.execute(self._sql("SELECT idx, status, input, output, error, cause FROM map_run_items WHERE "
                                        "run=? ORDER BY idx"), (name,)).fetchall()
        return [(i, status, loads(text), None if out is None else loads(out), err, cause)
                for i, status, text, out, err, cause in rows]

    def first_map_failure(self, name: str) -> tuple[str, str]:
        with self._read() as db:
            row = db.execute(self._sql("SELECT error, cause FROM map_run_items WHERE run=? AND status='failed' "
                                       "ORDER BY idx LIMIT 1"), (name,)).fetchone()
        return (row[0] or "FnF.Failed", row[1] or "") if row else ("FnF.Failed", "")

    def finish_map_run(self, name: str, status: str, error: str | None = None, cause: str | None = None,
                       *, only_if_done: bool = False) -> list[int] | None:
        """End a Running run; unfinished children count as aborted. Returns the indexes that were
        running (to stop), or None when the run had ended already (or, with ``only_if_done``, still
        has unfinished children)."""
        sql = self._sql
        with self._tx() as db:
            run = self._run(db, name, lock=True)
            if run["status"] != "Running" or (only_if_done and (run["n_pending"] or run["n_running"])):
                return None
            running = [r[0] for r in db.execute(sql("SELECT idx FROM map_run_items WHERE run=? AND status='running'"),
                                                (name,)).fetchall()]
            db.execute(sql("UPDATE map_run_items SET status='aborted' WHERE run=? AND status IN ('pending', 'running')"),
                       (name,))
            db.execute(sql("UPDATE map_runs SET status=?, stopped=?, error=?, cause=?, n_aborted=n_aborted+n_pending+"
                           "n_running, n_pending=0, n_running=0, live=0 WHERE name=?"),
                       (status, time.time(), error, cause, name))
        return running

    def update_map_run(self, name: str, concurrency: int | None, tolerated_count: int | None,
                       tolerated_percentage: float | None) -> dict[str, Any] | None:
        """Change the given settings of a Running run; None if it has ended."""
        with self._tx() as db:
            run = self._run(db, name, lock=True)
            if run["status"] != "Running":
                return None
            for column, value in (("concurrency", concurrency), ("tolerated_count", tolerated_count),
                                  ("tolerated_percentage", tolerated_percentage)):
                if value is not None:
                    db.execute(self._sql(f"UPDATE map_runs SET {column}=? WHERE name=?"), (value, name))
            return self._run(db, name)

    # -- many ends and starts in one transaction -----------------------------------------------------
    def map_items_ended(self, name: str, ends: list[ItemEnd], now: float, *, outbox_done: Iterable[int] = ()
                        ) -> tuple[dict[str, Any] | None, int, int]:
        """Record children's ends (each once, in the order given, none once the tolerance is exceeded:
        as if each had been checked alone), delete the outbox rows that reported them, claim what the
        concurrency frees and create those children: one transaction, a statement per step whatever
        the number of children. With no ends, only the refill (the run's start, a raised
        concurrency). Returns the run (None when it no longer exists: the reports are dropped), how
        many children started and how many wait for their flow's limit."""
        sql = self._sql
        with self._tx() as db:
            done = list(outbox_done)
            if done:
                clause, arg = self._in("id", done)
                db.execute(sql(f"DELETE FROM outbox WHERE {clause}"), (arg,))
            try:
                run = self._run(db, name, lock=True)
            except MapRunNotExists:
                return None, 0, 0
            started, waiting = self._ended_and_refilled(db, run, dict(run), ends, now)
            return run, started, waiting

    def _ended_and_refilled(self, db: Any, run: dict[str, Any], counted: dict[str, Any], ends: list[ItemEnd],
                            now: float, limited: bool | None = None) -> tuple[int, int]:
        """``map_items_ended`` once the run's row is locked; ``counted``: the counters as stored."""
        sql = self._sql
        started = waiting = 0
        while run["status"] == "Running":
            if ends:
                self._record_ends(db, run, ends)
            claimed = self._claim_items(db, run)
            if not claimed:
                break
            if limited is None:
                limited = db.execute(sql("SELECT 1 FROM flow_limits WHERE flow_name=?"),
                                     (run["flow_name"],)).fetchone() is not None
            more, later, ends = self._create_children(db, run, claimed, now, limited)
            started, waiting = started + more, waiting + later
            if not ends:
                break
        changed = [c for c in (*COUNTERS.values(), "live") if run[c] != counted[c]]
        if changed:  # the row is locked: its counters are what this transaction says
            db.execute(sql(f"UPDATE map_runs SET {', '.join(f'{c}=?' for c in changed)} WHERE name=?"),
                       (*(run[c] for c in changed), run["name"]))
            run["counts"] = item_counts(run)
        return started, waiting

    def _record_ends(self, db: Any, run: dict[str, Any], ends: list[ItemEnd]) -> None:
        """The ends in ``run``'s counters and its items' rows (the counters are written by the caller)."""
        sql, name = self._sql, run["name"]
        clause, arg = self._in("idx", sorted({e[0] for e in ends}))
        weights = dict(db.execute(sql(f"SELECT idx, weight FROM map_run_items WHERE run=? AND status='running' "
                                      f"AND {clause}"), (name, arg)).fetchall())
        rows = []
        for idx, ok, output, error, cause in ends:
            weight = weights.pop(idx, None)
            if weight is None:  # not running: a repeated report, or an item the run already counted
                continue
            if tolerance_exceeded(run):  # the run fails now: the rest stay running, to count as aborted
                break
            status = "succeeded" if ok else "failed"
            rows.append((idx, status, dumps(output) if ok else None, None if ok else error, None if ok else cause))
            run[COUNTERS[status]] += weight
            run["n_running"] -= weight
            run["live"] -= 1
        if not rows:
            return
        if self._ARRAYS:
            db.execute(sql("UPDATE map_run_items m SET status=u.s, output=u.o, error=u.e, cause=u.c FROM "
                           "unnest(?::int[], %b::text[], %b::text[], %b::text[], %b::text[]) AS u(i, s, o, e, c) "
                           "WHERE m.run=? AND m.idx=u.i"), (*(list(c) for c in zip(*rows, strict=True)), name))
        else:
            db.cursor().executemany(sql("UPDATE map_run_items SET status=?, output=?, error=?, cause=? "
                                        "WHERE run=? AND idx=?"), [(*r[1:], name, r[0]) for r in rows])
        run["counts"] = item_counts(run)

    def _claim_items(self, db: Any, run: dict[str, Any]) -> list[tuple[int, Any]]:
        """Pending items marked running, in index order, up to the concurrency (counters by the caller)."""
        free = run["concurrency"] - run["live"]
        if run["status"] != "Running" or free <= 0 or run["n_pending"] == 0 or tolerance_exceeded(run):
            return []
        picked = sorted(db.execute(self._sql(
            "UPDATE map_run_items SET status='running' WHERE run=? AND idx IN (SELECT idx FROM map_run_items "
            "WHERE run=? AND status='pending' ORDER BY idx LIMIT ?) RETURNING idx, input, weight"),
            (run["name"], run["name"], free)).fetchall())
        moved = sum(w for _, _, w in picked)
        run.update(n_pending=run["n_pending"] - moved, n_running=run["n_running"] + moved, live=run["live"] + len(picked))
        return [(idx, loads(text)) for idx, text, _ in picked]

    def _create_children(self, db: Any, run: dict[str, Any], claimed: list[tuple[int, Any]], now: float,
                         limited: bool) -> tuple[int, int, list[ItemEnd]]:
        """The claimed items' children, in the claim's transaction: one statement for all (each its
        own, admitted as any start, when the flow has a concurrency limit). A child that exists
        already ended before a crash let the run hear of it: its end is returned, to be recorded."""
        sql, flow, parent = self._sql, run["flow_name"], (run["execution_id"], run["task_id"])
        children = [(idx, child_input, *map_child(run, idx, child_input, now)) for idx, child_input in claimed]
        waiting = 0
        ids: list[int] = []
        inserted: set[str] = set()
        if limited:  # each start as StartExecution's: its start event, or waiting for admission
            for _, child_input, child, token, state in children:
                row, created = self._insert_execution(  # type: ignore[attr-defined]
                    db, flow, child, child_input, now, parent_id=parent[0], parent_task=parent[1],
                    callback_token=token, definition=run["definition"], flow_version=run["flow_version"],
                    map_run=run["name"], state=state)
                if created and row is not None:
                    ids.append(row.id)
                    inserted.add(child)
                    waiting += row.status == "Starting"
        elif self._ARRAYS:
            found = db.execute(sql(
                "INSERT INTO executions (flow_name, name, status, input, started, definition, parent_id, parent_task, "
                "callback_token, flow_version, qualifier, map_run, state) SELECT ?, n, 'Running', i, ?, ?, ?, ?, t, ?, "
                "'', ?, s FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS u(n, i, t, s) "
                "ON CONFLICT (flow_name, name) DO NOTHING RETURNING id, name"),
                (flow, now, run["definition"], parent[0], parent[1], run["flow_version"], run["name"],
                 [c[2] for c in children], [dumps(c[1]) for c in children], [c[3] for c in children],
                 [dumps(c[4]) for c in children])).fetchall()
            ids = [r[0] for r in found]
            inserted = {r[1] for r in found}
        else:
            for _, child_input, child, token, state in children:
                row = db.execute(sql(
                    "INSERT INTO executions (flow_name, name, status, input, started, definition, parent_id, "
                    "parent_task, callback_token, flow_version, qualifier, map_run, state) VALUES (?, ?, 'Running', "
                    "?, ?, ?, ?, ?, ?, ?, '', ?, ?) ON CONFLICT (flow_name, name) DO NOTHING RETURNING id"),
                    (flow, child, dumps(child_input), now, run["definition"], parent[0], parent[1], token,
                     run["flow_version"], run["name"], dumps(state))).fetchone()
                if row is not None:
                    ids.append(row[0])
                    inserted.add(child)
        if ids and not limited:
            start = dumps(Start().to_wire())
            if self._ARRAYS:
                db.execute(sql("INSERT INTO inbox (execution_id, due, event) SELECT x, 0, ? FROM unnest(?::bigint[]) "
                               "AS x"), (start, ids))
            else:
                db.cursor().executemany(sql("INSERT INTO inbox (execution_id, due, event) VALUES (?, 0, ?)"),
                                        [(x, start) for x in ids])
            self._notify(db, "work")
        ended: list[ItemEnd] = []
        if len(inserted) < len(children):  # names taken: children from before a crash
            names = [c[2] for c in children if c[2] not in inserted]
            clause, arg = self._in("name", names)
            for child, status, output, error, cause in db.execute(sql(
                    f"SELECT name, status, output, error, cause FROM executions WHERE flow_name=? AND {clause}"),
                    (flow, arg)).fetchall():
                if status not in ("Running", "Starting"):
                    idx = next(c[0] for c in children if c[2] == child)
                    ended.append((idx, status == "Succeeded", None if output is None else loads(output),
                                  error or f"FnF.Execution{status}", cause or ""))
        return len(ids) - waiting, waiting, ended

    def unsettled_map_runs(self) -> list[str]:
        """Runs that ended while their Map's task is still open: a crash came between the two."""
        with self._read() as db:
            return [r[0] for r in db.execute(
                "SELECT m.name FROM map_runs m JOIN open_tasks t ON t.execution_id = m.execution_id "
                "AND t.task_id = m.task_id WHERE m.status <> 'Running'").fetchall()]
