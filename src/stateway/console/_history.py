"""The execution page's history tools: filter by event type and by state, search the text, and
download the whole history as JSON (read through ``stateway.app``'s ``executions.history``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from stateway.console._site import Site
from stateway.store import ExecutionNotExists, FlowNotExists

if TYPE_CHECKING:
    from stateway.console._auth import Session

EVENT_TYPES = ("ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionStopped", "ExecutionTimedOut",
               "StepEntered", "StepStarted", "StepSucceeded", "StepFailed", "StepExited", "TaskScheduled",
               "TaskSubmitted", "TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed",
               "TaskCancelRequested", "TaskCancelled", "BranchEntered", "BranchExited", "IterationEntered",
               "IterationExited", "MapRunStarted", "MapRunSucceeded", "MapRunFailed", "MapRunAborted", "TimerFired")
FILTERS = ("htype", "hstep", "hq")
DOWNLOAD_PAGE = 1000


def history_filters(params: Mapping[str, str]) -> dict[str, str]:
    return {k: params.get(k, "").strip()[:200] for k in FILTERS if params.get(k, "").strip()}


def filtered_events(console: Site, execution_id: int, filters: dict[str, str], after: int,
                    limit: int) -> tuple[list[dict[str, Any]], str]:
    """A page of matching events and the query of the next page ('' when this is the last)."""
    kind = filters.get("htype", "")
    events = console.store.search_history(execution_id, types=[kind] if kind else None, step=filters.get("hstep", ""),
                                          text=filters.get("hq", ""), after=after, limit=limit + 1)
    more = len(events) > limit
    events = events[:limit]
    return events, urlencode({**filters, "hafter": events[-1]["EventId"]}) if more and events else ""


class HistoryDownload:
    def __init__(self, console: Site) -> None:
        self.console = console

    def routes(self, page: Callable[..., Any]) -> list[Route]:
        return [Route("/flows/{flow}/executions/{name}/history.json", page(self.download))]

    def download(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        flow, name = request.path_params["flow"], request.path_params["name"]
        self.console.allow(session, "fnf:GetExecutionHistory", flow=flow)
        executions = self.console.service.executions
        try:
            first = executions.history(flow, name, 0, DOWNLOAD_PAGE)
        except (FlowNotExists, ExecutionNotExists) as exc:
            return self.console.render("error.html", request, session, 404, message=str(exc))

        def chunks() -> Iterator[bytes]:
            page, sep = first, b"["
            while True:
                for event in page:
                    yield sep + orjson.dumps(event)
                    sep = b",\n"
                if len(page) < DOWNLOAD_PAGE:
                    break
                page = executions.history(flow, name, page[-1]["EventId"], DOWNLOAD_PAGE)
            yield b"]\n" if sep != b"[" else b"[]\n"

        filename = f"{name}-history.json".replace('"', "")
        return StreamingResponse(chunks(), media_type="application/json",
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                          "X-Content-Type-Options": "nosniff"})
