"""CloudFlow's RPC actions (api.md §8), as functions of (service, params) → response body."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from stateway.api._values import ApiError, check_name, invalid, page_token, parse_json
from stateway.api._waits import Waiters
from stateway.fdl import FlowDefinitionError
from stateway.runtime import FINAL_STATUSES, Runtime
from stateway.runtime._cron import Cron
from stateway.store import ExecutionRow, SQLiteStore
from stateway.timefmt import iso

MAX_INPUT_BYTES = 64 * 1024
DEFAULT_LIMIT = 60
SYNC_SECONDS = 300
RECHECK_SECONDS = 5.0  # a long poll re-reads the store about this often even if not woken (a safety net)
EXPRESS_KEEP = 1000  # ended Express executions kept in memory, at most...
EXPRESS_KEEP_SECONDS = 600  # ...and for at most this long


class CloudFlowService:
    """What the actions act on: the runtime (standard flows) and an in-memory one (Express)."""

    def __init__(self, runtime: Runtime, endpoint: str = "") -> None:
        self.runtime = runtime
        self.endpoint = endpoint
        self.waiters = Waiters()
        self.waiters.attach(runtime)
        self._express: Runtime | None = None
        self._express_lock = threading.Lock()
        express = runtime.settings.get("express") or {}
        self.express_keep = int(express.get("keep", EXPRESS_KEEP))
        self.express_keep_seconds = float(express.get("keep_seconds", EXPRESS_KEEP_SECONDS))
        self.recheck_seconds = RECHECK_SECONDS

    def express(self) -> Runtime:
        with self._express_lock:
            if self._express is None:
                self._express = Runtime(SQLiteStore.in_memory(), settings=self.runtime.settings)
                self.waiters.attach(self._express)
                self._express.start()
            return self._express

    def prune_express(self) -> int:
        """Forget ended Express executions beyond the newest ``express_keep``, or older than the window."""
        if self._express is None:
            return 0
        return self._express.store.prune_ended_executions(time.time() - self.express_keep_seconds,
                                                          self.express_keep)

    async def wait_ended(self, runtime: Runtime, execution_id: int, timeout: float) -> ExecutionRow:
        """The execution once it has ended, or as it is when ``timeout`` runs out; holds no thread."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with self.waiters.watch(("execution", id(runtime), execution_id)) as woken:
            while True:
                row = await run_in_threadpool(runtime.store.get_execution, execution_id)
                remaining = deadline - loop.time()
                if row.status in FINAL_STATUSES or remaining <= 0:
                    return row
                await Waiters.sleep(woken, min(remaining, Waiters.recheck(self.recheck_seconds)))

    def close(self) -> None:
        if self._express is not None:
            self._express.close()


Handler = Callable[[CloudFlowService, Mapping[str, str]], dict[str, Any]]
AsyncHandler = Callable[[CloudFlowService, Mapping[str, str]], Awaitable[dict[str, Any]]]


# -- parameters -------------------------------------------------------------------------------------
def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(400, "MissingRequiredParams", f"the parameter {name!r} is required")
    return value


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 12:
        raise ApiError(400, "InvalidArgument", f"{name} must be an integer, got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, "InvalidArgument", f"{name} must be between {low} and {high}, got {value}")
    return value


def _bool(params: Mapping[str, str], name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(400, "InvalidArgument", f"{name} must be true or false, got {raw!r}")


def _time(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ApiError(400, "InvalidArgument", f"{name} must be a time like 2019-01-01T01:01:01.001Z") from None


def _json_object(params: Mapping[str, str], name: str) -> dict[str, Any]:
    raw = params.get(name) or "{}"
    if len(raw.encode()) > MAX_INPUT_BYTES:
        raise ApiError(400, "InvalidArgument", f"{name} is over the limit of {MAX_INPUT_BYTES} bytes")
    value = parse_json(raw, name)
    if not isinstance(value, dict):
        raise ApiError(400, "InvalidArgument", f"{name} must be a JSON object")
    return value


def _offset(params: Mapping[str, str]) -> int:
    return page_token(params.get("NextToken") or "0")


def _page(items: list[Any], params: Mapping[str, str]) -> tuple[list[Any], str]:
    limit = _int(params, "Limit", DEFAULT_LIMIT, 1, 1000)
    start = _offset(params)
    page = items[start:start + limit]
    return page, str(start + limit) if start + limit < len(items) else ""


# -- flows --------------------------------------------------------------------------------------------
FLOW_FIELDS = ("Description", "Type", "RoleArn", "ExecutionMode", "ResourceGroupId", "ExternalStorageLocation")


def _definition_error(exc: FlowDefinitionError) -> ApiError:
    lines = "; ".join(p.format("Definition") for p in exc.errors)
    return ApiError(400, "InvalidArgument", f"the flow definition is not valid: {lines}")


def flow_view(flow: dict[str, Any]) -> dict[str, Any]:
    meta = flow["meta"]
    view = {"Name": flow["name"], "Definition": flow["definition"], "Id": flow["id"],
            "CreatedTime": iso(flow["created"]), "LastModifiedTime": iso(flow["modified"])}
    view.update({k: meta[k] for k in FLOW_FIELDS if k in meta})
    if "Environment" in meta:
        view["Environment"] = meta["Environment"]
    return view


def _flow_meta(params: Mapping[str, str], defaults: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"Type": "FDL", "ExecutionMode": "Standard", "Description": ""} if defaults else {}
    meta.update({k: params[k] for k in FLOW_FIELDS if k in params})
    if meta.get("ExecutionMode", "Standard") not in ("Standard", "Express"):
        raise ApiError(400, "InvalidArgument", "ExecutionMode must be Standard or Express")
    if "Environment" in params:
        meta["Environment"] = parse_json(params["Environment"], "Environment")
    return meta


def create_flow(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    name, definition = check_name(required(params, "Name"), "Name"), required(params, "Definition")
    try:
        flow = service.runtime.register_flow(name, definition, _flow_meta(params, True), replace=False)
    except FlowDefinitionError as exc:
        raise _definition_error(exc) from None
    return flow_view(flow)


def update_flow(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    name = required(params, "Name")
    flow = service.runtime.store.get_flow(name)
    definition = params.get("Definition") or flow["definition"]
    try:
        flow = service.runtime.register_flow(name, definition, _flow_meta(params, False), replace="update")
    except FlowDefinitionError as exc:
        raise _definition_error(exc) from None
    return flow_view(flow)


def describe_flow(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    return flow_view(service.runtime.store.get_flow(required(params, "Name")))


def list_flows(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flows = service.runtime.store.list_flows()
    group = params.get("ResourceGroupId")
    if group:
        flows = [f for f in flows if f["meta"].get("ResourceGroupId") == group]
    page, token = _page(flows, params)
    return {"Flows": [flow_view(f) for f in page], "NextToken": token}


def delete_flow(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    service.runtime.store.delete_flow(required(params, "Name"))
    return {}


# -- executions ---------------------------------------------------------------------------------------
def execution_view(row: ExecutionRow, metadata_only: bool = False) -> dict[str, Any]:
    view = {"FlowName": row.flow_name, "Name": row.name, "Status": row.status,
            "StartedTime": iso(row.started), "StoppedTime": iso(row.stopped) if row.stopped else ""}
    if not metadata_only:
        view.update({"Input": json.dumps(row.input, ensure_ascii=False),
                     "Output": "" if row.output is None else json.dumps(row.output, ensure_ascii=False),
                     "FlowDefinition": row.definition})
    if row.status in ("Failed", "Stopped", "TimedOut"):
        view.update({"ErrorCode": row.error or "", "ErrorMessage": row.cause or ""})
    view.update({"FlowVersion": row.flow_version, "Qualifier": row.qualifier})  # extra keys the SDK ignores
    if row.map_run:
        view["MapRunName"] = row.map_run
    return view


def _find(service: CloudFlowService, params: Mapping[str, str]) -> ExecutionRow:
    flow, name = required(params, "FlowName"), required(params, "ExecutionName")
    row = service.runtime.store.find_execution(flow, name)
    if row is None:
        service.runtime.store.get_flow(flow)  # FlowNotExists first, when that is the problem
        raise ApiError(404, "ExecutionNotExists", f"the execution {name!r} of flow {flow!r} does not exist")
    return row


def start_execution(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    if service.runtime.store.get_flow(flow_name)["meta"].get("ExecutionMode") == "Express":
        raise ApiError(400, "InvalidArgument", f"the flow {flow_name!r} is an Express flow: use StartSyncExecution")
    execution_input = _json_object(params, "Input")
    name = params.get("ExecutionName") or None
    row = service.runtime.start_execution(flow_name, execution_input, name and check_name(name, "ExecutionName"),
                                          callback_token=params.get("CallbackFnFTaskToken") or None,
                                          qualifier=params.get("Qualifier") or None)
    return execution_view(row)


def _start_sync(service: CloudFlowService, params: Mapping[str, str]) -> tuple[Runtime, ExecutionRow]:
    flow_name = required(params, "FlowName")
    flow = service.runtime.store.get_flow(flow_name)
    if flow["meta"].get("ExecutionMode") != "Express":
        raise ApiError(400, "InvalidArgument", f"the flow {flow_name!r} is a Standard flow: use StartExecution")
    if params.get("ExecutionName"):
        check_name(params["ExecutionName"], "ExecutionName")
    execution_input = _json_object(params, "Input")
    express = service.express()
    for other in service.runtime.store.list_flows():  # child flows run in the same memory
        express.store.put_flow(other["name"], other["definition"], other["meta"], replace=True)
    return express, express.start_execution(flow_name, execution_input, f"x{uuid.uuid4().hex}",
                                            qualifier=params.get("Qualifier") or None, versions=service.runtime.store)


async def start_sync_execution(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    express, row = await run_in_threadpool(_start_sync, service, params)
    row = await service.wait_ended(express, row.id, SYNC_SECONDS)
    if row.status not in FINAL_STATUSES:
        await run_in_threadpool(express.stop_execution, row.id, "FnF.Timeout",
                                f"a synchronous execution is limited to {SYNC_SECONDS} seconds")
        row = await service.wait_ended(express, row.id, 5)
    await run_in_threadpool(service.prune_express)
    given = params.get("ExecutionName") or "sync"
    view = {"FlowName": row.flow_name, "Name": f"{given}:{uuid.uuid4()}", "Status": row.status,
            "Output": "" if row.output is None else json.dumps(row.output, ensure_ascii=False),
            "StartedTime": iso(row.started), "StoppedTime": iso(row.stopped or time.time())}
    if row.status != "Succeeded":
        view.update({"ErrorCode": row.error or "", "ErrorMessage": row.cause or ""})
    return view


async def describe_execution(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    wait = _int(params, "WaitTimeSeconds", 0, 0, 60)
    row = await run_in_threadpool(_find, service, params)
    if wait and row.status not in FINAL_STATUSES:
        row = await service.wait_ended(service.runtime, row.id, wait)
    view = execution_view(row)
    if row.status not in FINAL_STATUSES:  # Stateway extension: where a running execution is
        view["CurrentSteps"] = await run_in_threadpool(service.runtime.store.current_steps, row.id)
    return view


def list_executions(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    service.runtime.store.get_flow(flow_name)
    status = params.get("Status") or None
    if status and status not in ("Starting", "Running", "Succeeded", "Failed", "Stopped", "TimedOut"):
        raise ApiError(400, "InvalidArgument", f"Status {status!r} is not an execution status")
    limit = _int(params, "Limit", DEFAULT_LIMIT, 1, 1000)
    offset = _offset(params)
    rows = service.runtime.store.list_executions(
        flow_name=flow_name, status=status, name_prefix=params.get("ExecutionNamePrefix") or "",
        started_from=_time(params, "StartedTimeBegin"), started_to=_time(params, "StartedTimeEnd"),
        offset=offset, limit=limit + 1, with_state=False, map_run=params.get("MapRunName") or "",
        **_qualifier_filter(params.get("Qualifier") or ""))
    metadata_only = _bool(params, "MetadataOnly", False)
    return {"Executions": [execution_view(r, metadata_only) for r in rows[:limit]],
            "NextToken": str(offset + limit) if len(rows) > limit else ""}


def _qualifier_filter(qualifier: str) -> dict[str, str]:
    """Digits match the version that ran, however it was chosen; a name matches starts through that alias."""
    if not qualifier:
        return {}
    return {"flow_version": str(int(qualifier))} if qualifier.isdigit() else {"qualifier": qualifier}


def _stop(service: CloudFlowService, params: Mapping[str, str]) -> ExecutionRow:
    row = _find(service, params)
    if row.status not in FINAL_STATUSES:  # stopping what has ended changes nothing
        service.runtime.stop_execution(row.id, params.get("Error", ""), params.get("Cause", ""))
    return row


async def stop_execution(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    row = await run_in_threadpool(_stop, service, params)
    if row.status not in FINAL_STATUSES:
        row = await service.wait_ended(service.runtime, row.id, 5)
    return execution_view(row)


def get_execution_history(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    row = _find(service, params)
    limit = _int(params, "Limit", 100, 1, 1000)
    events = service.runtime.store.history(row.id, _offset(params), limit + 1)
    more = len(events) > limit
    events = events[:limit]
    return {"Events": [{"EventId": e["EventId"], "Type": e["Type"], "StepName": e["StepName"],
                        "Time": iso(e["Time"]), "ScheduleEventId": e["ScheduleEventId"],
                        "EventDetail": json.dumps(e["EventDetail"], ensure_ascii=False)} for e in events],
            "NextToken": str(events[-1]["EventId"]) if more else ""}


# -- callbacks -----------------------------------------------------------------------------------------
def _token(params: Mapping[str, str]) -> str:
    token = required(params, "TaskToken")
    if not token.isascii() or not token.isprintable():  # tokens this server mints are URL-safe ASCII
        raise invalid("the task token does not verify: it is not a Stateway task token")
    return token


def report_task_succeeded(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    token = _token(params)
    output = parse_json(required(params, "Output"), "Output")
    return {"EventId": service.runtime.report_success(token, output)}


def report_task_failed(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    token = _token(params)
    return {"EventId": service.runtime.report_failure(token, required(params, "Error"), params.get("Cause", ""))}


# -- schedules -------------------------------------------------------------------------------------------
def schedule_view(schedule: dict[str, Any]) -> dict[str, Any]:
    return {"ScheduleName": schedule["name"], "ScheduleId": schedule["id"], "CronExpression": schedule["cron"],
            "Description": schedule["description"], "Payload": schedule["payload"], "Enable": schedule["enable"],
            "CreatedTime": iso(schedule["created"]), "LastModifiedTime": iso(schedule["modified"])}


def _cron(expression: str) -> Cron:
    try:
        return Cron.parse(expression)
    except ValueError as exc:  # a CronError, or int('²') of a digit that is not a number
        raise ApiError(400, "InvalidArgument", f"CronExpression: {exc}") from None


def _payload(params: Mapping[str, str], current: str) -> str:
    if "Payload" not in params:
        return current
    _json_object(params, "Payload")
    return params["Payload"]


def create_schedule(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow, name = required(params, "FlowName"), check_name(required(params, "ScheduleName"), "ScheduleName")
    cron = _cron(required(params, "CronExpression"))
    now = time.time()
    enable = _bool(params, "Enable", False)
    schedule = {"flow_name": flow, "name": name, "id": str(uuid.uuid4()), "cron": cron.expression,
                "description": params.get("Description", ""), "enable": enable, "payload": _payload(params, ""),
                "created": now, "modified": now, "next_fire": cron.next_after(now)}
    return schedule_view(service.runtime.store.put_schedule(schedule, create=True))


def update_schedule(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    store = service.runtime.store
    schedule = store.get_schedule(required(params, "FlowName"), required(params, "ScheduleName"))
    now = time.time()
    if "CronExpression" in params:
        schedule["cron"] = _cron(params["CronExpression"]).expression
    schedule["description"] = params.get("Description", schedule["description"])
    schedule["enable"] = _bool(params, "Enable", schedule["enable"])
    schedule["payload"] = _payload(params, schedule["payload"])
    schedule["modified"] = now
    schedule["next_fire"] = Cron.parse(schedule["cron"]).next_after(now)
    return schedule_view(store.put_schedule(schedule, create=False))


def describe_schedule(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    return schedule_view(service.runtime.store.get_schedule(required(params, "FlowName"),
                                                            required(params, "ScheduleName")))


def list_schedules(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow = required(params, "FlowName")
    service.runtime.store.get_flow(flow)
    page, token = _page(service.runtime.store.list_schedules(flow), params)
    return {"Schedules": [schedule_view(s) for s in page], "NextToken": token}


def delete_schedule(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    service.runtime.store.delete_schedule(required(params, "FlowName"), required(params, "ScheduleName"))
    return {}


# -- Stateway extensions (docs/api.md): finding waiting tasks and what functions printed ---------------
def list_open_tasks(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    """Tasks of running executions waiting for their result, oldest first: what `stateway task list` shows."""
    flow_name = params.get("FlowName") or None
    store = service.runtime.store
    if flow_name:
        store.get_flow(flow_name)
    execution_name = params.get("ExecutionName") or None
    mode = params.get("TaskMode") or None
    tasks = [t for t in store.open_tasks_of(flow_name) if execution_name in (None, t["execution_name"])
             and mode in (None, t["mode"])]
    limit = _int(params, "Limit", 100, 1, 1000)
    offset = _offset(params)
    page = tasks[offset:offset + limit]
    timeouts: dict[int, dict[str, float]] = {}
    now = time.time()
    items = []
    for t in page:
        if t["execution_id"] not in timeouts:  # the task's Timeout lives in the execution's timers
            state = store.get_execution(t["execution_id"]).state or {}
            timeouts[t["execution_id"]] = {str(v.get("task")): float(v.get("seconds") or 0)
                                           for v in (state.get("timers") or {}).values()
                                           if v.get("purpose") == "task_timeout"}
        seconds = timeouts[t["execution_id"]].get(t["task_id"])
        items.append({"FlowName": t["flow_name"], "ExecutionName": t["execution_name"], "StepName": t["step"],
                      "TaskId": t["task_id"], "Action": t["action"], "TaskMode": t["mode"],
                      "ScheduledTime": iso(t["opened"]), "WaitedSeconds": round(now - t["opened"], 3),
                      "TimeoutSeconds": seconds, "TimeoutTime": iso(t["opened"] + seconds) if seconds else "",
                      "TaskToken": t["token"] if t["mode"] == "WaitForCustomCallback" else ""})
    return {"Tasks": items, "NextToken": str(offset + limit) if len(tasks) > offset + limit else ""}


def get_execution_logs(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    """What each function invocation of an execution printed (bounded), optionally of one step."""
    row = _find(service, params)
    step = params.get("StepName") or None
    logs = [entry for entry in service.runtime.store.task_logs(row.id)
            if step is None or entry["step"] == step or entry["step"].rsplit("/", 1)[-1] == step]
    return {"Logs": [{"StepName": e["step"], "TaskId": e["task_id"], "Time": iso(e["time"]),
                      "Stdout": e["stdout"], "Stderr": e["stderr"]} for e in logs]}


def describe_regions(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    return {"Regions": {"Region": [{"RegionId": "local", "LocalName": "Stateway",
                                    "RegionEndpoint": service.endpoint}]}}


# long polls: coroutines that await the runtime's wake-ups instead of holding a thread
ASYNC_ACTIONS: dict[str, AsyncHandler] = {
    "StartSyncExecution": start_sync_execution, "DescribeExecution": describe_execution,
    "StopExecution": stop_execution,
}

ACTIONS: dict[str, Handler] = {
    "CreateFlow": create_flow, "UpdateFlow": update_flow, "DescribeFlow": describe_flow, "ListFlows": list_flows,
    "DeleteFlow": delete_flow,
    "StartExecution": start_execution,
    "ListExecutions": list_executions,
    "GetExecutionHistory": get_execution_history,
    "ReportTaskSucceeded": report_task_succeeded, "ReportTaskFailed": report_task_failed,
    "CreateSchedule": create_schedule, "UpdateSchedule": update_schedule, "DescribeSchedule": describe_schedule,
    "ListSchedules": list_schedules, "DeleteSchedule": delete_schedule,
    "DescribeRegions": describe_regions,
    "ListOpenTasks": list_open_tasks, "GetExecutionLogs": get_execution_logs,  # Stateway extensions
}

NOT_YET: frozenset[str] = frozenset()
