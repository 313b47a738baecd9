"""Paged reads for the console: the Map Runs of one execution, one run's children by index
(keyset on ``idx`` over the ``(run, status, idx)`` index, so a page of a 10,000-item run reads one
page of rows, never the whole run), and a search of one execution's history. Written once for
both stores."""

from __future__ import annotations

from typing import Any

from stateway.store._sql_base import SqlStore
from stateway.store._sql_maprun import item_counts
from stateway.store._sql_rows import HISTORY_COLUMNS, history_event

# what a listing needs: not the definition, the globals or the writer
SUMMARY_FIELDS = ("name", "execution_id", "task_id", "flow_name", "flow_version", "status", "concurrency",
                  "tolerated_count", "tolerated_percentage", "execution_mode", "started", "stopped", "error", "cause",
                  "n_pending", "n_running", "n_succeeded", "n_failed", "n_aborted")
ITEM_STATUSES = ("pending", "running", "succeeded", "failed", "aborted")
INPUT_CHARS = 2000  # of an item's input, enough for its first fields


class MapRunPagesMixin(SqlStore):
    def map_runs_of(self, execution_id: int) -> list[dict[str, Any]]:
        """The execution's Map Runs, oldest first, with their counts."""
        with self._read() as db:
            rows = db.execute(self._sql(f"SELECT {', '.join(SUMMARY_FIELDS)} FROM map_runs WHERE execution_id=? "
                                        "ORDER BY started"), (execution_id,)).fetchall()
        runs = [dict(zip(SUMMARY_FIELDS, row, strict=True)) for row in rows]
        for run in runs:
            run["counts"] = item_counts(run)
        return runs

    def page_map_items(self, name: str, *, status: str | None = None, after: int | None = None,
                       before: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Children in index order: those after index ``after`` (the next page), or the ones just
        before ``before`` (the previous page, still in index order). Each with the start of its input."""
        clauses, args = ["run=?"], [name]
        if status:
            clauses.append("status=?")
            args.append(status)
        if after is not None:
            clauses.append("idx > ?")
            args.append(after)
        if before is not None:
            clauses.append("idx < ?")
            args.append(before)
        order = "DESC" if before is not None and after is None else "ASC"
        with self._read() as db:
            rows = db.execute(self._sql(
                f"SELECT idx, status, weight, substr(input, 1, {INPUT_CHARS}), length(input), error, cause "
                f"FROM map_run_items WHERE {' AND '.join(clauses)} ORDER BY idx {order} LIMIT ?"),
                [*args, limit]).fetchall()
        if order == "DESC":
            rows.reverse()
        return [{"idx": r[0], "status": r[1], "weight": r[2], "input": r[3], "input_chars": r[4], "error": r[5],
                 "cause": r[6]} for r in rows]


class HistorySearchMixin(SqlStore):
    def search_history(self, execution_id: int, *, types: list[str] | None = None, step: str = "", text: str = "",
                       after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """One execution's events of the given types, whose step name contains ``step`` and whose
        type, step or detail contains ``text`` (case-sensitive), after event id ``after``, in order.
        Reads that execution's history rows only (its primary key), never another's."""
        clauses, args = ["execution_id=?", "event_id>?"], [execution_id, after]
        if types:
            clause, arg = self._in("type", types)
            clauses.append(clause)
            args.append(arg)
        pos = self._STRPOS
        if step:
            clauses.append(f"{pos}(step_name, ?) > 0")
            args.append(step)
        if text:
            clauses.append(f"({pos}(detail, ?) > 0 OR {pos}(step_name, ?) > 0 OR {pos}(type, ?) > 0)")
            args += [text, text, text]
        with self._read() as db:
            rows = db.execute(self._sql(f"SELECT {HISTORY_COLUMNS} FROM history WHERE {' AND '.join(clauses)} "
                                        "ORDER BY event_id LIMIT ?"), [*args, limit]).fetchall()
        return [history_event(r) for r in rows]

    def task_logs_for(self, execution_id: int, task_ids: list[str]) -> list[dict[str, Any]]:
        """What the given tasks of one execution printed (a state panel's attempts), not every task's."""
        if not task_ids:
            return []
        clause, arg = self._in("task_id", task_ids)
        with self._read() as db:
            rows = db.execute(self._sql(f"SELECT task_id, time, stdout, stderr FROM task_logs WHERE execution_id=? "
                                        f"AND {clause}"), (execution_id, arg)).fetchall()
        return [{"task_id": r[0], "step": "", "time": r[1], "stdout": r[2], "stderr": r[3]} for r in rows]
