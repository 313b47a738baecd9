"""Routes of the console. Pages are rendered on the server (Jinja2); the one script polls the
execution page and checks JSON editors before they are sent. Every change (start, stop, answer
a task, switch a schedule) calls the application services (``stateway.app``), as the API does."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from anyio import from_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from stateway.app import Stateway
from stateway.app._checks import json_object, json_value
from stateway.app.errors import QueueNotExists
from stateway.app.tasks import CUSTOM_CALLBACK
from stateway.console import _queries as q
from stateway.console._auth import COOKIE, LOGIN_COOKIE, Session
from stateway.console._graph import flow_svg
from stateway.console._history import EVENT_TYPES, HistoryDownload, filtered_events, history_filters
from stateway.console._mapruns import MapRunPages, with_map_runs
from stateway.console._operations import routes as operation_routes
from stateway.console._progress import Progress, node_path
from stateway.console._site import HttpError, Site, _form, _pretty
from stateway.console._state_extras import attempt_logs, map_items
from stateway.console._versions import VersionPages
from stateway.runtime import FINAL_STATUSES, InvalidArgument, InvalidTaskToken, TaskAlreadyCompleted

HERE = Path(__file__).parent
PAGE = 50
HISTORY_PAGE = 100
TIMELINE_PAGE = 100
DETAIL_CHARS = 2000  # an event's detail in the history list; the full text is one click away
STATE_VISITS = 20


def _detail(detail: dict[str, Any]) -> dict[str, Any]:
    """An event's detail with the JSON texts it carries (input, output, parameters) parsed."""
    out = {}
    for key, value in detail.items():
        if key in ("input", "output", "parameters") and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


class Console(Site):
    """The pages: flows, executions, tasks, queues, sign-in; more come from the modules named in ``routes``."""

    def __init__(self, service: Stateway, credentials: Mapping[str, str]) -> None:
        super().__init__(service, credentials)
        self.version_pages = VersionPages(self)

    # -- plumbing ----------------------------------------------------------------------------------
    def routes(self) -> list[Any]:
        page = self._page
        return [
            Route("/", self.index),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", page(self.logout), methods=["POST"]),
            Route("/flows", page(self.flows)),
            Route("/flows/{flow}", page(self.flow)),
            Route("/flows/{flow}/start", page(self.start), methods=["POST"]),
            Route("/flows/{flow}/schedules/{schedule}", page(self.schedule), methods=["POST"]),
            Route("/executions", page(self.executions)),
            Route("/flows/{flow}/executions/{name}", page(self.execution)),
            Route("/flows/{flow}/executions/{name}/live", page(self.live)),
            Route("/flows/{flow}/executions/{name}/events/{event}", page(self.event)),
            Route("/flows/{flow}/executions/{name}/stop", page(self.stop), methods=["POST"]),
            Route("/tasks", page(self.tasks)),
            Route("/tasks/approve", page(self.approve), methods=["POST"]),
            Route("/tasks/reject", page(self.reject), methods=["POST"]),
            Route("/queues", page(self.queues)),
            Route("/queues/{queue}", page(self.queue)),
            *operation_routes(self),  # redrive, bulk operations (console/_operations.py)
            *MapRunPages(self).routes(page),
            *self.version_pages.routes(page),
            *HistoryDownload(self).routes(page),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ]

    # -- access --------------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        session = await run_in_threadpool(self.sessions.read, request.cookies.get(COOKIE))
        policy = self.policy(session) if session is not None else None
        # the first page the key may open (a key that only answers tasks lands on its tasks)
        target = next((path for path, action in (("executions", "fnf:ListExecutions"), ("tasks", "fnf:ListOpenTasks"),
                                                 ("flows", "fnf:ListFlows"), ("queues", "mns:ListQueue"))
                       if policy is None or policy.allows(action)), "executions")
        return RedirectResponse(f"{self.base(request)}/{target}", status_code=303)

    async def login(self, request: Request) -> Response:
        next_url = request.query_params.get("next", "")
        if not next_url.startswith(self.base(request) + "/") or next_url.startswith("//"):
            next_url = self.base(request) + "/executions"
        if request.method == "GET":
            session, cookie = self._session(request)
            if session is not None:
                response: Response = RedirectResponse(next_url, status_code=303)
                if cookie:
                    self._set_cookie(response, request, cookie)
                return response
            nonce = self.sessions.csrf_for(str(time.time_ns()))
            response = self.render("login.html", request, None, login_csrf=nonce, next_url=next_url)
            response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path=self.base(request) or "/", httponly=True,
                                samesite="strict")
            return response
        try:
            form = await _form(request)
        except HttpError as exc:
            return self.render("error.html", request, None, exc.status, message=exc.message)
        key_id, secret = str(form.get("access_key_id", "")).strip(), str(form.get("access_key_secret", ""))
        login_csrf = str(form.get("csrf", ""))
        if not login_csrf or login_csrf != request.cookies.get(LOGIN_COOKIE):
            return self.render("login.html", request, None, 403, login_csrf=login_csrf, next_url=next_url,
                               failure="The sign-in form expired; please try again.")
        if not self.sessions.check_login(key_id, secret):
            return self.render("login.html", request, None, 401, login_csrf=login_csrf, next_url=next_url,
                               failure="That access key id and secret do not match a configured key.",
                               key_id=key_id)
        response = RedirectResponse(next_url, status_code=303)
        self._set_cookie(response, request, self.sessions.issue(key_id))
        response.delete_cookie(LOGIN_COOKIE, path=self.base(request) or "/")
        return response

    def logout(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        self.sessions.end(session)
        response = RedirectResponse(f"{self.base(request)}/login", status_code=303)
        response.delete_cookie(COOKIE, path=self.base(request) or "/")
        return response

    # -- flows ---------------------------------------------------------------------------------------
    def flows(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        self.allow(session, "fnf:ListFlows")
        search = request.query_params.get("q", "").strip()
        page = _int(request.query_params.get("page"), 1)
        policy = self.policy(session)
        if policy.all_flows:
            flows, total = self.store.page_flows(search, (page - 1) * PAGE, PAGE)
        else:  # a key limited to some flows: page what it may see (names only are read in full)
            matching, _ = self.store.page_flows(search, 0, 1_000_000)
            visible = [f for f in matching if policy.sees_flow(f["name"])]
            flows, total = visible[(page - 1) * PAGE: page * PAGE], len(visible)
        return self.render("flows.html", request, session, flows=flows, total=total, page=page,
                           pages=max(1, -(-total // PAGE)), search=search)

    def _flow(self, name: str) -> dict[str, Any]:
        try:
            return self.store.get_flow(name)
        except Exception as exc:
            raise HttpError(404, str(exc)) from None

    def flow(self, request: Request, session: Session, form: Mapping[str, str],
             start_error: str = "", start_input: str = "", start_name: str = "", sync_result: Any = None
             ) -> Response:
        self.allow(session, "fnf:DescribeFlow", flow=request.path_params["flow"])
        flow = self._flow(request.path_params["flow"])
        recent = self.store.page_executions(flow_name=flow["name"], limit=20)
        schedules = self.store.list_schedules(flow["name"])
        flow = {**flow, "limit": self.store.flow_limit(flow["name"])}
        return self.render("flow.html", request, session, status=400 if start_error else 200, flow=flow,
                           svg=self._svg(flow["definition"]), lines=flow["definition"].splitlines(), recent=recent,
                           schedules=schedules, express=flow["meta"].get("ExecutionMode") == "Express",
                           start_error=start_error, start_input=start_input or "{}", start_name=start_name,
                           sync_result=sync_result, **self.version_pages.context(flow["name"]))

    def start(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        self.allow(session, "fnf:DescribeFlow", flow=request.path_params["flow"])
        flow = self._flow(request.path_params["flow"])
        text, name = form.get("input", "").strip() or "{}", form.get("name", "").strip()
        express = flow["meta"].get("ExecutionMode") == "Express"
        # as the API: an Express flow runs with StartSyncExecution, a Standard one with StartExecution
        self.allow(session, "fnf:StartSyncExecution" if express else "fnf:StartExecution", flow=flow["name"])
        executions = self.service.executions
        try:
            execution_input = json_object(text, "Input")
            if express:
                result = from_thread.run(lambda: executions.start_sync_async(flow["name"], execution_input, name or None))
            else:
                result = executions.start(flow["name"], execution_input, name or None)
        except InvalidArgument as exc:
            return self.flow(request, session, form, start_error=str(exc), start_input=text, start_name=name)
        except Exception as exc:  # ExecutionAlreadyExists and the like carry a code
            return self.flow(request, session, form, start_error=f"{getattr(exc, 'code', 'Error')}: {exc}",
                             start_input=text, start_name=name)
        if express:
            return self.flow(request, session, form, sync_result=result, start_input=text)
        return self.back(request, f"{self.base(request)}/flows/{quote(flow['name'], safe='')}/executions/"
                         f"{quote(result.name, safe='')}", notice="Execution started.")

    def schedule(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        flow, name = request.path_params["flow"], request.path_params["schedule"]
        self.allow(session, "fnf:UpdateSchedule", flow=flow)
        enable = form.get("enable", "") == "true"
        try:
            self.service.schedules.update(flow, name, enable=enable)
        except Exception as exc:
            return self.back(request, f"{self.base(request)}/flows/{quote(flow, safe='')}", error=str(exc))
        return self.back(request, f"{self.base(request)}/flows/{quote(flow, safe='')}",
                         notice=f"Schedule {name} {'enabled' if enable else 'disabled'}.")

    # -- executions ----------------------------------------------------------------------------------
    def executions(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        self.allow(session, "fnf:ListExecutions")
        params = request.query_params
        status = params.get("status", "")
        flow_name = params.get("flow", "").strip()
        if flow_name:
            self.allow(session, "fnf:ListExecutions", flow=flow_name)
        prefix = params.get("prefix", "").strip()
        problems = []
        if status and status not in q.STATUSES:
            problems.append(f"status {status!r} is not one of {', '.join(q.STATUSES)}")
        try:
            started_from = q.parse_time(params.get("from", ""))
            started_to = q.parse_time(params.get("to", ""))
        except ValueError as exc:
            problems.append(str(exc))
            started_from = started_to = None
        parent = _int(params.get("parent"), 0) or None
        before, after = _int(params.get("before"), 0) or None, _int(params.get("after"), 0) or None
        rows: list[dict[str, Any]] = []
        if not problems:
            rows = q.visible_executions(self.store, self.policy(session), flow_name=flow_name or None,
                                        status=status or None, name_prefix=prefix, started_from=started_from,
                                        started_to=started_to, parent_id=parent, before_id=before, after_id=after,
                                        limit=PAGE + 1)
        # one row more than a page says whether there is a page beyond it, in the direction we went
        more = len(rows) > PAGE
        if after is not None and before is None:
            rows = rows[1:] if more else rows
            newer, older = more, True
        else:
            rows = rows[:PAGE]
            newer, older = before is not None, more
        filters = {k: params.get(k, "") for k in ("status", "flow", "prefix", "from", "to", "parent") if params.get(k)}
        return self.render("executions.html", request, session, status=400 if problems else 200, rows=rows,
                           problems=problems, filters=filters, statuses=q.STATUSES,
                           newer_link=urlencode({**filters, "after": rows[0]["id"]}) if rows and newer else "",
                           older_link=urlencode({**filters, "before": rows[-1]["id"]}) if rows and older else "")

    def _svg(self, definition: str, progress: dict[str, Any] | None = None, link: str | None = None,
             selected: str = "") -> str:
        try:
            model = q.flow_model(self.service, definition)
        except Exception as exc:  # e.g. an integration it names is no longer installed
            return f'<p class="problem">The graph cannot be drawn: the definition does not load ({escape(str(exc))}).</p>'
        return flow_svg(model, progress, link, selected)

    def _live_parts(self, request: Request, row: Any, progress: Progress, session: Session) -> dict[str, Any]:
        """What changes while an execution runs: header, graph, timeline, tasks, children, history."""
        base = self.base(request)
        here = f"{base}/flows/{quote(row.flow_name, safe='')}/executions/{quote(row.name, safe='')}"
        selected = request.query_params.get("state", "")
        keep = {k: v for k, v in request.query_params.items() if k in ("page", "tl", "htype", "hstep", "hq")}
        link = here + "?" + urlencode({**keep, "state": "__PATH__"}).replace("__PATH__", "{path}") + "#state"
        map_runs = self.store.map_runs_of(row.id)
        svg = self._svg(row.definition, with_map_runs(progress, map_runs), link, selected)
        tl_page = _int(request.query_params.get("tl"), 1)
        visits = progress.visits
        tl_pages = max(1, -(-len(visits) // TIMELINE_PAGE))
        shown = visits[(tl_page - 1) * TIMELINE_PAGE: tl_page * TIMELINE_PAGE]
        start = progress.started or row.started
        end = row.stopped or progress.ended or time.time()
        span = max(end - start, 1e-3)
        bars = [{"visit": v, "left": 100 * (v.entered - start) / span,
                 "width": max(0.4, 100 * ((v.exited or end) - v.entered) / span),
                 "retries": [100 * (t - start) / span for t in v.retries]} for v in shown]
        ticks = q.time_ticks(span)
        tasks = self.store.open_tasks(row.id)
        policy = self.policy(session)
        children = [c for c in self.store.page_executions(parent_id=row.id, limit=PAGE + 1)
                    if policy.sees_flow(c["flow_name"])]
        total = self.store.history_count(row.id)
        page = min(_int(request.query_params.get("page"), 1), max(1, -(-total // HISTORY_PAGE)))
        # the event list is GetExecutionHistory's; the graph and timeline, DescribeExecution's
        filters = history_filters(request.query_params)
        more_events = ""
        if not policy.allows("fnf:GetExecutionHistory"):
            events = []
        elif filters:
            events, more_events = filtered_events(self, row.id, filters, _int(request.query_params.get("hafter"), 0),
                                                  HISTORY_PAGE)
        else:
            events = self.store.history(row.id, (page - 1) * HISTORY_PAGE, HISTORY_PAGE)
        for event in events:
            text = _pretty(_detail(event["EventDetail"]), DETAIL_CHARS)
            event["pretty"] = text
        return {"row": row, "here": here, "svg": svg, "bars": bars, "tl_page": tl_page, "tl_pages": tl_pages,
                "span": span, "tasks": tasks, "children": children[:PAGE], "more_children": len(children) > PAGE,
                "events": events, "page": page, "pages": max(1, -(-total // HISTORY_PAGE)), "total": total,
                "keep": keep, "now": time.time(), "map_runs": map_runs,
                "ticks": ticks, "hfilters": filters, "more_events": more_events, "event_types": EVENT_TYPES}

    def execution(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        row = self._execution(request, session)
        progress = q.progress(self.service, row.id, self.progress_cache)
        parts = self._live_parts(request, row, progress, session)
        parent = self.store.get_execution(row.parent_id) if row.parent_id else None
        selected = request.query_params.get("state", "")
        state_view = self._state_view(row, progress, selected) if selected else None
        return self.render("execution.html", request, session, parent=parent, state_view=state_view,
                           selected=selected, poison=self.store.poison_calls(row.id), input_text=_pretty(row.input),
                           output_text=None if row.output is None else _pretty(row.output), **parts)

    def _state_view(self, row: Any, progress: Progress, path: str) -> dict[str, Any]:
        visits = [v for v in progress.visits if node_path(v.step) == path]
        shown = visits[:STATE_VISITS]
        events = {e["EventId"]: e for e in self.store.history_events(row.id, [i for v in shown for i in v.events])}
        # only the shown visits' tasks: an execution may have printed from thousands of tasks
        logs = self.store.task_logs_for(row.id, [str(e) for v in shown if v.attempts for e in v.events])
        out = []
        for visit in shown:
            view: dict[str, Any] = {"visit": visit, "input": None, "output": None, "error": None, "failures": [],
                                    "attempts": [], "logs": attempt_logs(logs, visit),
                                    "map_items": map_items(progress.visits, visit)}
            for event_id in visit.events:
                event = events.get(event_id)
                if event is None:
                    continue
                detail = event["EventDetail"]
                if event["Type"] == "TaskScheduled":
                    view["attempts"].append({"task": event_id, "started": event["Time"], "ended": None, "how": ""})
                elif event["Type"] in ("TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed") \
                        and view["attempts"]:
                    view["attempts"][-1].update(ended=event["Time"], how=event["Type"][4:])
                if event["Type"] == "StepEntered":
                    view["input"] = _pretty(detail.get("input"))
                elif event["Type"] == "StepExited" and "output" in detail:
                    view["output"] = _pretty(detail.get("output"))
                elif event["Type"] == "StepFailed":
                    view["failures"].append(detail)
                    view["error"] = {"error": detail.get("error"), "cause": detail.get("cause")}
            out.append(view)
        return {"path": path, "visits": out, "total": len(visits)}

    def live(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        row = self._execution(request, session)
        known = request.query_params.get("n", "")
        total = self.store.history_count(row.id)
        key: int | str = total
        if row.status not in FINAL_STATUSES:
            # a running Map Run's children end without the parent's history growing: count them too
            running = [r for r in self.store.map_runs_of(row.id) if r["status"] == "Running"]
            if running:
                key = f"{total}.{sum(r['n_succeeded'] + r['n_failed'] + r['n_aborted'] + r['n_running'] for r in running)}"
        body: dict[str, Any] = {"status": row.status, "final": row.status in FINAL_STATUSES, "n": key}
        if str(key) != known or row.status in FINAL_STATUSES:
            progress = q.progress(self.service, row.id, self.progress_cache)
            parts = self._live_parts(request, row, progress, session)
            template = self.env.get_template("execution_live.html")
            module = template.make_module({"request": request, "session": session, "base": self.base(request),
                                           "can": self.can(session), **parts})
            body["parts"] = {name: str(getattr(module, name + "_part")()) for name in
                             ("summary", "graph", "timeline", "tasks", "children", "history")}
            body["tasks_key"] = ",".join(f"{t['task_id']}" for t in parts["tasks"])
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def event(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        row = self._execution(request, session, "fnf:GetExecutionHistory")
        event_id = _int(request.path_params["event"], 0)
        events = self.store.history_events(row.id, [event_id])
        if not events:
            raise HttpError(404, f"the execution has no event {event_id}")
        event = events[0]
        return self.render("event.html", request, session, row=row, event=event,
                           pretty=_pretty(_detail(event["EventDetail"]), 1_500_000))

    def stop(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        row = self._execution(request, session, "fnf:StopExecution")
        here = f"{self.base(request)}/flows/{quote(row.flow_name, safe='')}/executions/{quote(row.name, safe='')}"
        if row.status in FINAL_STATUSES:
            return self.back(request, here, error=f"The execution had already ended ({row.status}).")
        try:
            from_thread.run(lambda: self.service.executions.stop_async(row.flow_name, row.name, form.get("error", ""),
                                                                       form.get("cause", "")))
        except Exception as exc:
            return self.back(request, here, error=str(exc))
        return self.back(request, here, notice="Stop requested.")

    # -- waiting tasks -------------------------------------------------------------------------------
    def tasks(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        """Open tasks, custom callbacks only: the same list `stateway task list` prints."""
        self.allow(session, "fnf:ListOpenTasks")
        raw = request.query_params.get("from", "")
        offset = int(raw) if raw.isdigit() and len(raw) < 10 else 0
        policy = self.policy(session)
        tasks, more = self.service.tasks.list_open(mode=CUSTOM_CALLBACK, offset=offset, limit=PAGE,
                                                   visible=None if policy.all_flows else policy.sees_flow)
        return self.render("tasks.html", request, session, tasks=tasks, offset=offset,
                           next_token=str(offset + PAGE) if more else "", page_size=PAGE, now=time.time())

    def _answer(self, request: Request, session: Session, form: Mapping[str, str], report: Callable[[str], int],
                verb: str, action: str) -> Response:
        target = form.get("back", "") or f"{self.base(request)}/tasks"
        label = form.get("label", "the task")
        scoped = self.service.with_policy(self.policy(session), session.key_id)
        self.allow(session, action, flow=scoped.flow_of_token(form.get("token", "")))
        try:
            report(form.get("token", ""))
        except TaskAlreadyCompleted:
            return self.back(request, target, error=f"{label} was already completed; nothing was changed.")
        except (InvalidArgument, InvalidTaskToken) as exc:
            return self.back(request, target, error=str(exc))
        return self.back(request, target, notice=f"{label} {verb}.")

    def approve(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        output = form.get("output", "").strip() or "{}"
        try:
            if not isinstance(json.loads(output), dict):
                raise ValueError("the output must be a JSON object")
        except ValueError as exc:
            return self.back(request, form.get("back", "") or f"{self.base(request)}/tasks",
                             error=f"Not approved: the output is not a JSON object ({exc}).")
        return self._answer(request, session, form,
                            lambda token: self.service.tasks.succeed(token, json_value(output, "Output")),
                            "approved", "fnf:ReportTaskSucceeded")

    def reject(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        error, cause = form.get("error", "").strip(), form.get("cause", "")
        return self._answer(request, session, form, lambda token: self.service.tasks.fail(token, error, cause),
                            "rejected", "fnf:ReportTaskFailed")

    # -- queues --------------------------------------------------------------------------------------
    def queues(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        self.allow(session, "mns:ListQueue")
        policy = self.policy(session)
        return self.render("queues.html", request, session,
                           queues=[x for x in q.queue_stats(self.service) if policy.sees_queue(x["name"])])

    def queue(self, request: Request, session: Session, form: Mapping[str, str]) -> Response:
        name = request.path_params["queue"]
        self.allow(session, "mns:GetQueueAttributes", queue=name)
        self.allow(session, "mns:PeekMessage", queue=name)
        try:
            info = self.service.queues.get(name)
            peeked = self.service.queues.peek(name, 20)
        except QueueNotExists:
            raise HttpError(404, f"the queue {name!r} does not exist") from None
        messages = [{**vars(m), "shown": m.body if len(m.body) <= 4000 else m.body[:4000] + f"… ({len(m.body) - 4000} more)"}
                    for m in peeked]
        return self.render("queue.html", request, session, queue=info, messages=messages)


def _int(text: str | None, default: int) -> int:
    try:
        return max(1, int(text)) if text else default
    except ValueError:
        return default


def create_console(service: Stateway, credentials: Mapping[str, str]) -> Starlette:
    console = Console(service, credentials)
    app = Starlette(routes=console.routes())
    app.state.console = console
    return app
