"""The console's operator pages: the Redrive button of an execution, acting on the executions list
(the selected ones, or all matching the filter as a bulk operation), and the bulk operations with
their progress. Changes go through the application services (``executions.redrive``, ``bulk``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from anyio import from_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stateway.app.bulk import BulkFilter
from stateway.console import _queries as q
from stateway.console._auth import Session
from stateway.console._site import HttpError, Site
from stateway.store import BulkOperationNotExists

PICKS = 500  # executions one "selected" action may name


def routes(console: Site) -> list[Route]:
    ops = Operations(console)
    page = console._page
    return [
        Route("/flows/{flow}/executions/{name}/redrive", page(ops.redrive), methods=["POST"]),
        Route("/bulk", page(ops.bulk), methods=["GET", "POST"]),
        Route("/bulk/{job}", page(ops.job)),
        Route("/bulk/{job}/cancel", page(ops.cancel), methods=["POST"]),
    ]


class Operations:
    def __init__(self, console: Site) -> None:
        self.console = console
        self.service = console.service

    def _here(self, request: Request, flow: str, name: str) -> str:
        return f"{self.console.base(request)}/flows/{quote(flow, safe='')}/executions/{quote(name, safe='')}"

    def redrive(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        row = self.console._execution(request, session, "fnf:RedriveExecution")
        here = self._here(request, row.flow_name, row.name)
        try:
            self.service.executions.redrive(row.flow_name, row.name)
        except Exception as exc:
            return self.console.back(request, here, error=f"{getattr(exc, 'code', 'Error')}: {exc}")
        return self.console.back(request, here, notice="Redriven: it carries on from where it failed.")

    def bulk(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        if request.method == "GET":
            self.console.allow(session, "fnf:ListBulkOperations")
            return self.console.render("bulk.html", request, session, jobs=self.service.bulk.list(100))
        base = self.console.base(request)
        operation = form.get("operation", "")
        if form.get("scope") == "matching":
            try:
                self.console.allow(session, "fnf:StartBulkOperation", flow=form.get("filter-flow", ""))
                selection = BulkFilter(
                    flow_name=form.get("filter-flow", ""), status=form.get("filter-status") or None,
                    name_prefix=form.get("filter-prefix", ""), started_from=q.parse_time(form.get("filter-from", "")),
                    started_to=q.parse_time(form.get("filter-to", "")))
                job = self.service.bulk.start(operation, selection)
            except Exception as exc:
                return self.console.back(request, f"{base}/executions", error=f"{getattr(exc, 'code', 'Error')}: {exc}")
            return self.console.back(request, f"{base}/bulk/{quote(job['id'], safe='')}",
                                     notice=f"Started: {operation} {job['total']} executions.")
        picks = _picks(request)[:PICKS]
        done, problems = self._each(session, operation, picks)
        return self.console.back(request, f"{base}/executions", notice=f"{operation}: {done} of {len(picks)} done.",
                                 error="; ".join(problems[:3]))

    def _each(self, session: Session, operation: str, picks: list[tuple[str, str]]) -> tuple[int, list[str]]:
        """The selected executions, one by one through the services (a few, so no job)."""
        executions, done, problems = self.service.executions, 0, []
        for flow, name in picks:
            try:
                action = {"stop": "fnf:StopExecution", "redrive": "fnf:RedriveExecution"}.get(operation,
                                                                                          "fnf:StartBulkOperation")
                self.console.allow(session, action, flow=flow)
                if operation == "stop":
                    from_thread.run(lambda f=flow, n=name: executions.stop_async(f, n))
                elif operation == "redrive":
                    executions.redrive(flow, name)
                elif operation == "delete":
                    row = executions.describe(flow, name)
                    if not self.service.store.delete_executions([row.id]):
                        raise ValueError("it is running: stop it first")
                else:
                    raise ValueError(f"unknown operation {operation!r}")
                done += 1
            except Exception as exc:
                problems.append(f"{flow}/{name}: {exc}")
        return done, problems

    def job(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        self.console.allow(session, "fnf:DescribeBulkOperation")
        job = self._job(request)
        return self.console.render("bulk_job.html", request, session, job=job,
                                   seen=job["n_done"] + job["n_skipped"] + job["n_failed"])

    def cancel(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        self.console.allow(session, "fnf:CancelBulkOperation")
        job = self._job(request)
        self.service.bulk.cancel(job["id"])
        return self.console.back(request, f"{self.console.base(request)}/bulk/{quote(job['id'], safe='')}",
                                 notice="Cancelled after the page in progress.")

    def _job(self, request: Request) -> dict[str, Any]:

        try:
            return self.service.bulk.describe(request.path_params["job"])
        except BulkOperationNotExists as exc:
            raise HttpError(404, str(exc)) from None


def _picks(request: Request) -> list[tuple[str, str]]:
    """The checked rows (``flow/name``); the form parser keeps one value per key, so read them all."""
    out = []
    for value in [v for k, v in getattr(request.state, "form_pairs", []) if k == "pick"]:
        flow, _, name = value.partition("/")
        if flow and name:
            out.append((flow, name))
    return out
