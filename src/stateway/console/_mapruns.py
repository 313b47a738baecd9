"""The Map Run page of a distributed Map: status, item counts with a live progress bar, tolerance
and concurrency (changed through ``stateway.app``'s ``map_runs.update``, as UpdateMapRun does), and
the children by item index, filtered by status and paged by keyset on the index."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stateway.app.errors import AppError
from stateway.console._progress import Progress, node_path
from stateway.console._site import Site
from stateway.runtime import InvalidArgument
from stateway.store import ExecutionNotExists, FlowNotExists, MapRunNotExists

if TYPE_CHECKING:
    from stateway.console._auth import Session

ITEM_PAGE = 50
ITEM_STATUSES = ("pending", "running", "succeeded", "failed", "aborted")
# item status → the graph's status words, so the chips and colours read the same everywhere
ITEM_LOOK = {"pending": "notreached", "running": "running", "succeeded": "succeeded", "failed": "failed",
             "aborted": "cancelled"}
FIELDS_SHOWN = 3
PREVIEW_CHARS = 60


def item_preview(text: str, total_chars: int, limit: int) -> str:
    """An item's first fields (``key: value``), or the start of its JSON when it is not an object."""
    value: Any = None
    if total_chars <= limit:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
    if isinstance(value, dict):
        parts = []
        for key in list(value)[:FIELDS_SHOWN]:
            shown = json.dumps(value[key], ensure_ascii=False, separators=(",", ":"))
            parts.append(f"{key}: {shown if len(shown) <= PREVIEW_CHARS else shown[:PREVIEW_CHARS - 1] + '…'}")
        if len(value) > FIELDS_SHOWN:
            parts.append(f"… {len(value) - FIELDS_SHOWN} more")
        return ", ".join(parts) or "{}"
    shown = text if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return shown if len(shown) <= 2 * PREVIEW_CHARS else shown[:2 * PREVIEW_CHARS - 1] + "…"


def progress_bar(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Segments of the bar: share of the items in each status (pending is the empty rest)."""
    total = max(1, run["counts"]["Total"])
    return [{"status": status, "look": ITEM_LOOK[status], "n": run[f"n_{status}"],
             "pct": 100 * run[f"n_{status}"] / total} for status in ("succeeded", "failed", "aborted", "running")]


def summary_line(run: Mapping[str, Any]) -> str:
    """"196 succeeded, 4 failed" (the statuses that have items)."""
    words = [f"{run[f'n_{s}']} {s}" for s in ITEM_STATUSES if run[f"n_{s}"]]
    return ", ".join(words) or "no items"


def _index(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


class MapRunPages:
    def __init__(self, console: Site) -> None:
        self.console = console
        self.service = console.service
        self.store = console.store

    def routes(self, page: Callable[..., Any]) -> list[Route]:
        prefix = "/flows/{flow}/executions/{name}/mapruns/{run}"
        return [Route(prefix, page(self.show)), Route(prefix + "/live", page(self.live)),
                Route(prefix + "/update", page(self.update), methods=["POST"])]

    def _run(self, request: Request) -> dict[str, Any] | None:
        p = request.path_params
        try:
            return self.service.map_runs.describe(p["flow"], p["name"], p["run"])
        except (FlowNotExists, ExecutionNotExists, MapRunNotExists):
            return None

    def _here(self, request: Request) -> str:
        p = request.path_params
        return (f"{self.console.base(request)}/flows/{quote(p['flow'], safe='')}/executions/"
                f"{quote(p['name'], safe='')}/mapruns/{quote(p['run'], safe='')}")

    def _missing(self, request: Request, session: Session) -> Response:
        p = request.path_params
        return self.console.render("error.html", request, session, 404,
                                   message=f"the execution {p['name']!r} of flow {p['flow']!r} has no Map Run "
                                           f"{p['run']!r}")

    def show(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        self.console.allow(session, "fnf:DescribeMapRun", flow=request.path_params["flow"])
        run = self._run(request)
        if run is None:
            return self._missing(request, session)
        params = request.query_params
        status = params.get("status", "")
        problem = ""
        if status and status not in ITEM_STATUSES:
            problem, status = f"status {status!r} is not one of {', '.join(ITEM_STATUSES)}", ""
        after, before = _index(params.get("after")), _index(params.get("before"))
        rows = self.store.page_map_items(run["name"], status=status or None, after=after, before=before,
                                         limit=ITEM_PAGE + 1)
        more = len(rows) > ITEM_PAGE
        if before is not None and after is None:
            rows = rows[1:] if more else rows
            earlier, later = more, True
        else:
            rows = rows[:ITEM_PAGE]
            earlier, later = after is not None, more
        keep = {"status": status} if status else {}
        here = self._here(request)
        children = f"{self.console.base(request)}/flows/{quote(run['flow_name'], safe='')}/executions/"
        items = [{**r, "look": ITEM_LOOK.get(r["status"], "notreached"),
                  "preview": item_preview(r["input"], r["input_chars"], len(r["input"])),
                  "child": None if r["status"] == "pending" else children + quote(f"{run['name']}-{r['idx']}", safe="")}
                 for r in rows]
        parent = self.store.get_execution(run["execution_id"])
        return self.console.render(
            "maprun.html", request, session, status=400 if problem else 200, run=run, here=here, items=items,
            parent=parent, filter_status=status, statuses=ITEM_STATUSES, problem_text=problem,
            bar=progress_bar(run), summary=summary_line(run), looks=ITEM_LOOK,
            earlier_link=urlencode({**keep, "before": rows[0]["idx"]}) if rows and earlier else "",
            later_link=urlencode({**keep, "after": rows[-1]["idx"]}) if rows and later else "")

    def live(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        self.console.allow(session, "fnf:DescribeMapRun", flow=request.path_params["flow"])
        run = self._run(request)
        if run is None:
            return JSONResponse({"error": "no such Map Run"}, status_code=404)
        module = self.console.env.get_template("maprun_live.html").make_module(
            {"request": request, "session": session, "base": self.console.base(request), "run": run,
             "bar": progress_bar(run), "summary": summary_line(run), "here": self._here(request)})
        return JSONResponse({"status": run["status"], "final": run["status"] != "Running", "counts": run["counts"],
                             "parts": {"summary": str(module.summary_part())}},  # type: ignore[attr-defined]
                            headers={"Cache-Control": "no-store"})

    def update(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        p = request.path_params
        self.console.allow(session, "fnf:UpdateMapRun", flow=p["flow"])
        here = self._here(request)
        try:
            concurrency = _number(form.get("concurrency", ""), "Concurrency", int)
            count = _number(form.get("tolerated_count", ""), "Tolerated failure count", int)
            percentage = _number(form.get("tolerated_percentage", ""), "Tolerated failure percentage", float)
            if concurrency is None and count is None and percentage is None:
                return self.console.back(request, here, error="Nothing to change: fill in at least one field.")
            self.service.map_runs.update(p["flow"], p["name"], p["run"], concurrency=concurrency,
                                         tolerated_count=count, tolerated_percentage=percentage)
        except (InvalidArgument, AppError, MapRunNotExists, ExecutionNotExists, FlowNotExists) as exc:
            return self.console.back(request, here, error=f"Not changed: {exc}")
        return self.console.back(request, here, notice="Map Run updated.")


def with_map_runs(progress: Progress, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The graph's nodes, a distributed Map's with its Map Run (found by the task that started it)."""
    if not runs:
        return progress.nodes
    by_task = {str(run["task_id"]): run for run in runs}
    nodes = dict(progress.nodes)
    for visit in progress.visits:
        for event_id in visit.events:
            run = by_task.get(str(event_id))
            if run is not None:
                path = node_path(visit.step)
                nodes[path] = {**nodes[path], "map_run": run}
    return nodes


def _number(text: str, label: str, kind: type) -> Any:
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise InvalidArgument(f"{label} must be a number, got {text!r}") from None
