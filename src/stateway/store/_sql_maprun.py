"""Map Runs (versions-and-maprun.md §4.5-§4.9): the run, with per-status item counts kept as
counters, and one row per child (an item or a batch, weighted by its item count). Every change is
conditional on the current status under the run's row lock, so concurrent child ends on any number
of workers never double-start, double-count or double-finish. Written once for both stores."""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

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
            db.cursor().executemany(
                sql("INSERT INTO map_run_items (run, idx, status, weight, input) VALUES (?, ?, 'pending', ?, ?)"),
                [(run["name"], i, w, dumps(child)) for i, (child, w) in enumerate(zip(children, weights, strict=True))])
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
        db.cursor().executemany(sql("UPDATE map_run_items SET status='running' WHERE run=? AND idx=?"),
                                [(run["name"], idx) for idx, _, _ in picked])
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
