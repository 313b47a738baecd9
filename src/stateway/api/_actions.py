"""CloudFlow's RPC actions (api.md §8), as functions of (service, params) → response body.

Each action parses its parameters, calls the application services (``stateway.app``), and
renders CloudFlow's body; the rules live in the services.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from stateway.api._values import ApiError, page_token, parse_json
from stateway.app import Stateway
from stateway.app.tasks import OpenTask
from stateway.fdl import FlowDefinitionError
from stateway.runtime import FINAL_STATUSES, Runtime
from stateway.store import ExecutionRow
from stateway.timefmt import iso

MAX_INPUT_BYTES = 64 * 1024
DEFAULT_LIMIT = 60


class CloudFlowService:
    """What the actions act on: the application services, and the endpoint DescribeRegions names."""

    def __init__(self, runtime: Runtime | Stateway, endpoint: str = "") -> None:
        if isinstance(runtime, Stateway):
            self.app = runtime
        else:
            express = runtime.settings.express
            self.app = Stateway(runtime, express_keep=express.keep, express_keep_seconds=express.keep_seconds)
        self.runtime = self.app.runtime
        self.endpoint = endpoint
        self.on_close: list[Callable[[], Any]] = []  # the app's own resources (the RPC path's threads)

    # the knobs tests turn, kept where they were
    @property
    def recheck_seconds(self) -> float:
        return self.app.executions.recheck_seconds

    @recheck_seconds.setter
    def recheck_seconds(self, seconds: float) -> None:
        self.app.executions.recheck_seconds = seconds

    @property
    def express_keep_seconds(self) -> float:
        return self.app.executions.express_keep_seconds

    @express_keep_seconds.setter
    def express_keep_seconds(self, seconds: float) -> None:
        self.app.executions.express_keep_seconds = seconds

    def express(self) -> Runtime:
        return self.app.executions.express()

    def close(self) -> None:
        for hook in self.on_close:
            hook()
        self.app.close()


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


def _optional_bool(params: Mapping[str, str], name: str) -> bool | None:
    return _bool(params, name, False) if params.get(name) else None


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
    if "RetentionDays" in meta:
        view["RetentionDays"] = meta["RetentionDays"]
    limit = flow.get("limit")
    if limit:  # Stateway's concurrency limit (docs/operations.md)
        view.update({"MaxRunning": limit["max_running"] or 0, "ConcurrencyKey": limit["key_expr"],
                     "StartsPerSecond": limit["starts_per_second"] or 0})
    return view


LIMIT_PARAMS = ("MaxRunning", "ConcurrencyKey", "StartsPerSecond")


def _set_limit(service: CloudFlowService, name: str, params: Mapping[str, str]) -> dict[str, Any] | None:
    """UpdateFlow's Stateway parameters: what is not given stays as it was."""
    limit = service.app.flows.limit(name) or {"max_running": None, "key_expr": "", "starts_per_second": None}
    if not any(k in params for k in LIMIT_PARAMS):
        return limit if limit.get("max_running") or limit.get("starts_per_second") else None
    max_running = _int(params, "MaxRunning", 0, 0, 1_000_000) if params.get("MaxRunning") else limit["max_running"]
    key = params["ConcurrencyKey"] if "ConcurrencyKey" in params else limit["key_expr"]
    rate = limit["starts_per_second"]
    if params.get("StartsPerSecond"):
        try:
            rate = float(params["StartsPerSecond"])
        except ValueError:
            raise ApiError(400, "InvalidArgument", "StartsPerSecond must be a number") from None
    return service.app.flows.set_limit(name, max_running, key, rate)


def _flow_meta(params: Mapping[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {k: params[k] for k in FLOW_FIELDS if k in params}
    if params.get("RetentionDays"):  # Stateway's: overrides [retention] days for this flow
        meta["RetentionDays"] = _int(params, "RetentionDays", 0, 0, 36500)
    if "Environment" in params:
        meta["Environment"] = parse_json(params["Environment"], "Environment")
    return meta


def create_flow(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    name, definition = required(params, "Name"), required(params, "Definition")
    try:
        return flow_view(service.app.flows.create(name, definition, _flow_meta(params)))
    except FlowDefinitionError as exc:
        raise _definition_error(exc) from None


def update_flow(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    name = required(params, "Name")
    try:
        service.app.flows.require(name)
        limit = _set_limit(service, name, params)
        flow = service.app.flows.update(name, params.get("Definition") or None, _flow_meta(params))
    except FlowDefinitionError as exc:
        raise _definition_error(exc) from None
    return flow_view({**flow, "limit": limit})


def describe_flow(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    name = required(params, "Name")
    flow = service.app.flows.describe(name)
    return flow_view({**flow, "limit": service.app.flows.limit(name)})


def list_flows(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    page, token = _page(service.app.flows.list(params.get("ResourceGroupId") or None), params)
    return {"Flows": [flow_view(f) for f in page], "NextToken": token}


def delete_flow(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    service.app.flows.delete(required(params, "Name"))
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


def sync_view(row: ExecutionRow, given_name: str) -> dict[str, Any]:
    """StartSyncExecution's answer: the name is the one given (or "sync") and a fresh id."""
    view = {"FlowName": row.flow_name, "Name": f"{given_name or 'sync'}:{uuid.uuid4()}", "Status": row.status,
            "Output": "" if row.output is None else json.dumps(row.output, ensure_ascii=False),
            "StartedTime": iso(row.started), "StoppedTime": iso(row.stopped or time.time())}
    if row.status != "Succeeded":
        view.update({"ErrorCode": row.error or "", "ErrorMessage": row.cause or ""})
    return view


def _execution_key(params: Mapping[str, str]) -> tuple[str, str]:
    return required(params, "FlowName"), required(params, "ExecutionName")


def _find(service: CloudFlowService, params: Mapping[str, str]) -> ExecutionRow:
    return service.app.executions.describe(*_execution_key(params))


def start_execution(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    try:
        execution_input = _json_object(params, "Input")
    except ApiError:
        service.app.flows.require(flow_name)  # FlowNotExists before a problem with the input
        raise
    # the flow is read with the start, in its statement (app/executions.py: the same errors, in order)
    row = service.app.executions.start(flow_name, execution_input, params.get("ExecutionName") or None,
                                       callback_token=params.get("CallbackFnFTaskToken") or None,
                                       qualifier=params.get("Qualifier") or None)
    return execution_view(row)


async def start_sync_execution(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    row = await service.app.executions.start_sync_async(
        flow_name, _json_object(params, "Input"), params.get("ExecutionName") or None,
        qualifier=params.get("Qualifier") or None)
    return sync_view(row, params.get("ExecutionName") or "")


async def describe_execution(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    wait = _int(params, "WaitTimeSeconds", 0, 0, 60)
    flow_name, name = _execution_key(params)
    executions = service.app.executions
    row = await executions.describe_async(flow_name, name, wait)
    view = execution_view(row)
    if row.status not in FINAL_STATUSES:  # Stateway extension: where a running execution is
        view["CurrentSteps"] = await run_in_threadpool(executions.current_steps, row)
    status, why = executions.redrive_status(row)  # RedriveExecution (api/_operations.py)
    view.update({"RedriveCount": row.redrive_count, "RedriveStatus": status}, **(
        {"RedriveStatusReason": why} if why else {}), **({"RedriveDate": iso(row.redriven)} if row.redriven else {}))
    return view


def list_executions(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    limit = _int(params, "Limit", DEFAULT_LIMIT, 1, 1000)
    offset = _offset(params)
    rows = service.app.executions.list(
        flow_name, status=params.get("Status") or None, name_prefix=params.get("ExecutionNamePrefix") or "",
        started_from=_time(params, "StartedTimeBegin"), started_to=_time(params, "StartedTimeEnd"),
        qualifier=params.get("Qualifier") or None, map_run=params.get("MapRunName") or "",
        offset=offset, limit=limit + 1)
    metadata_only = _bool(params, "MetadataOnly", False)
    return {"Executions": [execution_view(r, metadata_only) for r in rows[:limit]],
            "NextToken": str(offset + limit) if len(rows) > limit else ""}


async def stop_execution(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name, name = _execution_key(params)
    row = await service.app.executions.stop_async(flow_name, name, params.get("Error", ""), params.get("Cause", ""))
    return execution_view(row)


def get_execution_history(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name, name = _execution_key(params)
    limit = _int(params, "Limit", 100, 1, 1000)
    events = service.app.executions.history(flow_name, name, _offset(params), limit + 1)
    more = len(events) > limit
    events = events[:limit]
    return {"Events": [{"EventId": e["EventId"], "Type": e["Type"], "StepName": e["StepName"],
                        "Time": iso(e["Time"]), "ScheduleEventId": e["ScheduleEventId"],
                        "EventDetail": json.dumps(e["EventDetail"], ensure_ascii=False)} for e in events],
            "NextToken": str(events[-1]["EventId"]) if more else ""}


# -- callbacks -----------------------------------------------------------------------------------------
def report_task_succeeded(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    token = required(params, "TaskToken")
    output = parse_json(required(params, "Output"), "Output")
    return {"EventId": service.app.tasks.succeed(token, output)}


def report_task_failed(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    token = required(params, "TaskToken")
    return {"EventId": service.app.tasks.fail(token, required(params, "Error"), params.get("Cause", ""))}


# -- schedules -------------------------------------------------------------------------------------------
def schedule_view(schedule: dict[str, Any]) -> dict[str, Any]:
    return {"ScheduleName": schedule["name"], "ScheduleId": schedule["id"], "CronExpression": schedule["cron"],
            "Description": schedule["description"], "Payload": schedule["payload"], "Enable": schedule["enable"],
            "CreatedTime": iso(schedule["created"]), "LastModifiedTime": iso(schedule["modified"])}


def create_schedule(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow, name = required(params, "FlowName"), required(params, "ScheduleName")
    schedule = service.app.schedules.create(flow, name, required(params, "CronExpression"),
                                            payload=params.get("Payload", ""),
                                            description=params.get("Description", ""),
                                            enable=_bool(params, "Enable", False))
    return schedule_view(schedule)


def update_schedule(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    schedule = service.app.schedules.update(
        required(params, "FlowName"), required(params, "ScheduleName"), cron=params.get("CronExpression"),
        payload=params.get("Payload"), description=params.get("Description"),
        enable=_optional_bool(params, "Enable"))
    return schedule_view(schedule)


def describe_schedule(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    return schedule_view(service.app.schedules.describe(required(params, "FlowName"),
                                                        required(params, "ScheduleName")))


def list_schedules(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    page, token = _page(service.app.schedules.list(required(params, "FlowName")), params)
    return {"Schedules": [schedule_view(s) for s in page], "NextToken": token}


def delete_schedule(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    service.app.schedules.delete(required(params, "FlowName"), required(params, "ScheduleName"))
    return {}


# -- Stateway extensions (docs/api.md): finding waiting tasks and what functions printed ---------------
def open_task_view(task: OpenTask, now: float) -> dict[str, Any]:
    return {"FlowName": task.flow_name, "ExecutionName": task.execution_name, "StepName": task.step,
            "TaskId": task.task_id, "Action": task.action, "TaskMode": task.mode,
            "ScheduledTime": iso(task.opened), "WaitedSeconds": round(now - task.opened, 3),
            "TimeoutSeconds": task.timeout_seconds, "TimeoutTime": iso(task.timeout_at) if task.timeout_at else "",
            "TaskToken": task.token, "CorrelationKey": task.key}


def list_open_tasks(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    """Tasks of running executions waiting for their result, oldest first: what `stateway task list` shows."""
    limit = _int(params, "Limit", 100, 1, 1000)
    offset = _offset(params)
    tasks, more = service.app.tasks.list_open(params.get("FlowName") or None, params.get("ExecutionName") or None,
                                              params.get("TaskMode") or None, offset=offset, limit=limit)
    now = time.time()
    return {"Tasks": [open_task_view(t, now) for t in tasks], "NextToken": str(offset + limit) if more else ""}


def get_execution_logs(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    """What each function invocation of an execution printed (bounded), optionally of one step."""
    flow_name, name = _execution_key(params)
    logs = service.app.executions.logs(flow_name, name, params.get("StepName") or None)
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
