"""Map Runs on SQLite (versions-and-maprun.md §4.5-§4.9): the run and one row per child (an item or
a batch, weighted by its item count). Every transition is conditional on the current status, so
concurrent reports of children never double-start, double-count or double-finish. Mixed into
``SQLiteStore``."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from stateway.jsontext import dumps, loads
from stateway.store._errors import MapRunNotExists

RUN_FIELDS = ("name, execution_id, task_id, flow_name, flow_version, status, concurrency, tolerated_count, "
              "tolerated_percentage, execution_mode, definition, started, stopped, error, cause")
COUNT_NAMES = {"pending": "Pending", "running": "Running", "succeeded": "Succeed", "failed": "Failed",
               "aborted": "Aborted"}


class MapRunsMixin:
    _db: sqlite3.Connection

    def create_map_run(self, run: dict[str, Any], children: list[Any], weights: list[int]) -> bool:
        """Insert the run (Running) and its children (pending); False if it exists already."""
        with self._tx() as db:  # type: ignore[attr-defined]
            if db.execute("SELECT 1 FROM map_runs WHERE name=?", (run["name"],)).fetchone():
                return False
            db.execute(f"INSERT INTO map_runs ({RUN_FIELDS}) VALUES ({', '.join('?' * 15)})",
                       (run["name"], run["execution_id"], run["task_id"], run["flow_name"], run["flow_version"],
                        "Running", run["concurrency"], run["tolerated_count"], run["tolerated_percentage"],
                        run["execution_mode"], run["definition"], time.time(), None, None, None))
            db.executemany("INSERT INTO map_run_items VALUES (?, ?, 'pending', ?, ?, NULL, NULL, NULL)",
                           [(run["name"], i, w, dumps(child)) for i, (child, w) in enumerate(zip(children, weights,
                                                                                                 strict=True))])
        return True

    def _run(self, db: sqlite3.Connection, name: str) -> dict[str, Any]:
        row = db.execute(f"SELECT {RUN_FIELDS} FROM map_runs WHERE name=?", (name,)).fetchone()
        if row is None:
            raise MapRunNotExists(f"no Map Run named {name!r}")
        run = dict(zip([f.strip() for f in RUN_FIELDS.split(",")], row, strict=True))
        counts = {v: 0 for v in COUNT_NAMES.values()}
        for status, weight in db.execute("SELECT status, SUM(weight) FROM map_run_items WHERE run=? GROUP BY status",
                                         (name,)):
            counts[COUNT_NAMES[status]] = int(weight)
        counts["Total"] = sum(counts.values())
        run["counts"] = counts
        return run

    def get_map_run(self, name: str) -> dict[str, Any]:
        with self._lock:  # type: ignore[attr-defined]
            return self._run(self._db, name)

    def running_map_runs(self) -> list[str]:
        with self._lock:  # type: ignore[attr-defined]
            return [r[0] for r in self._db.execute("SELECT name FROM map_runs WHERE status='Running'")]

    def claim_map_items(self, name: str) -> list[tuple[int, Any]]:
        """Mark pending children running, in index order, up to the run's concurrency."""
        with self._tx() as db:  # type: ignore[attr-defined]
            row = db.execute("SELECT status, concurrency FROM map_runs WHERE name=?", (name,)).fetchone()
            if row is None or row[0] != "Running":
                return []
            running = db.execute("SELECT COUNT(*) FROM map_run_items WHERE run=? AND status='running'",
                                 (name,)).fetchone()[0]
            free = row[1] - running
            if free <= 0:
                return []
            picked = db.execute("SELECT idx, input FROM map_run_items WHERE run=? AND status='pending' ORDER BY idx "
                                "LIMIT ?", (name, free)).fetchall()
            db.executemany("UPDATE map_run_items SET status='running' WHERE run=? AND idx=?",
                           [(name, idx) for idx, _ in picked])
        return [(idx, loads(text)) for idx, text in picked]

    def running_map_items(self, name: str) -> list[tuple[int, Any]]:
        with self._lock:  # type: ignore[attr-defined]
            rows = self._db.execute("SELECT idx, input FROM map_run_items WHERE run=? AND status='running' "
                                    "ORDER BY idx", (name,)).fetchall()
        return [(idx, loads(text)) for idx, text in rows]

    def record_map_item(self, name: str, idx: int, ok: bool, output: Any, error: str, cause: str) -> bool:
        with self._tx() as db:  # type: ignore[attr-defined]
            return db.execute(
                "UPDATE map_run_items SET status=?, output=?, error=?, cause=? WHERE run=? AND idx=? "
                "AND status='running'", ("succeeded" if ok else "failed", dumps(output) if ok else None,
                                         None if ok else error, None if ok else cause, name, idx)).rowcount == 1

    def map_run_results(self, name: str) -> list[Any]:
        """One entry per child in order: its output, or {Code, Detail} for a tolerated failure."""
        with self._lock:  # type: ignore[attr-defined]
            rows = self._db.execute("SELECT status, output, error, cause FROM map_run_items WHERE run=? ORDER BY idx",
                                    (name,)).fetchall()
        return [loads(out) if status == "succeeded" else {"Code": err or "", "Detail": cause or ""}
                for status, out, err, cause in rows]

    def finish_map_run(self, name: str, status: str, error: str | None = None, cause: str | None = None,
                       *, only_if_done: bool = False) -> list[int] | None:
        """End a Running run; unfinished children count as aborted. Returns the indexes that were
        running (to stop), or None when the run had ended already (or, with ``only_if_done``, still
        has unfinished children)."""
        with self._tx() as db:  # type: ignore[attr-defined]
            row = db.execute("SELECT status FROM map_runs WHERE name=?", (name,)).fetchone()
            if row is None or row[0] != "Running":
                return None
            if only_if_done and db.execute("SELECT 1 FROM map_run_items WHERE run=? AND status IN "
                                           "('pending', 'running') LIMIT 1", (name,)).fetchone():
                return None
            running = [r[0] for r in db.execute("SELECT idx FROM map_run_items WHERE run=? AND status='running'",
                                                (name,))]
            db.execute("UPDATE map_run_items SET status='aborted' WHERE run=? AND status IN ('pending', 'running')",
                       (name,))
            db.execute("UPDATE map_runs SET status=?, stopped=?, error=?, cause=? WHERE name=?",
                       (status, time.time(), error, cause, name))
        return running

    def update_map_run(self, name: str, concurrency: int | None, tolerated_count: int | None,
                       tolerated_percentage: float | None) -> dict[str, Any] | None:
        """Change the given settings of a Running run; None if it has ended."""
        with self._tx() as db:  # type: ignore[attr-defined]
            run = self._run(db, name)
            if run["status"] != "Running":
                return None
            for column, value in (("concurrency", concurrency), ("tolerated_count", tolerated_count),
                                  ("tolerated_percentage", tolerated_percentage)):
                if value is not None:
                    db.execute(f"UPDATE map_runs SET {column}=? WHERE name=?", (value, name))
            return self._run(db, name)
