"""Starlette app: ``/`` takes CloudFlow RPC actions; every error is CloudFlow's JSON error body."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stateway.api._signature import SignatureChecker, SignatureRefused
from stateway.runtime import InvalidArgument, InvalidTaskToken, Runtime, TaskAlreadyCompleted

MAX_BODY = 1024 * 1024
API_VERSION = "2019-03-15"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


def _error(status: int, code: str, message: str, request_id: str) -> JSONResponse:
    return JSONResponse({"RequestId": request_id, "HostId": "stateway", "Code": code, "Message": message},
                        status_code=status, headers={"x-acs-request-id": request_id})


Handler = Callable[[Runtime, Mapping[str, str]], dict[str, Any]]


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(400, "MissingParameter", f"the parameter {name!r} is required")
    return value


def report_task_succeeded(runtime: Runtime, params: Mapping[str, str]) -> dict[str, Any]:
    token = _required(params, "TaskToken")
    try:
        output = json.loads(_required(params, "Output"))
    except ValueError:
        raise ApiError(400, "InvalidArgument", "Output must be a JSON object") from None
    return {"EventId": runtime.report_success(token, output)}


def report_task_failed(runtime: Runtime, params: Mapping[str, str]) -> dict[str, Any]:
    token = _required(params, "TaskToken")
    return {"EventId": runtime.report_failure(token, _required(params, "Error"), params.get("Cause", ""))}


def _execution(runtime: Runtime, params: Mapping[str, str]) -> Any:
    flow, name = _required(params, "FlowName"), _required(params, "ExecutionName")
    row = runtime.store.find_execution(flow, name)
    if row is None:
        raise ApiError(404, "ExecutionNotExists", f"the execution {name!r} of flow {flow!r} does not exist")
    return row


def stop_execution(runtime: Runtime, params: Mapping[str, str]) -> dict[str, Any]:
    row = _execution(runtime, params)
    runtime.stop_execution(row.id, params.get("Error", ""), params.get("Cause", ""))
    row = runtime.wait(row.id, 1.0)
    return execution_view(row)


def describe_execution(runtime: Runtime, params: Mapping[str, str]) -> dict[str, Any]:
    row = _execution(runtime, params)
    wait = float(params.get("WaitTimeSeconds") or 0)
    if wait > 0:
        row = runtime.wait(row.id, min(wait, 60))
    return execution_view(row)


def execution_view(row: Any) -> dict[str, Any]:
    from stateway.timefmt import iso

    return {"FlowName": row.flow_name, "Name": row.name, "Status": row.status,
            "Input": json.dumps(row.input, ensure_ascii=False),
            "Output": "" if row.output is None else json.dumps(row.output, ensure_ascii=False),
            "StartedTime": iso(row.started), "StoppedTime": iso(row.stopped) if row.stopped else "",
            "FlowDefinition": row.definition, "ErrorCode": row.error or "", "ErrorMessage": row.cause or ""}


ACTIONS: dict[str, Handler] = {
    "StopExecution": stop_execution,
    "DescribeExecution": describe_execution,
    "ReportTaskSucceeded": report_task_succeeded,
    "ReportTaskFailed": report_task_failed,
}


def create_app(runtime: Runtime, credentials: Mapping[str, str], actions: Mapping[str, Handler] | None = None
               ) -> Starlette:
    checker = SignatureChecker(credentials)
    table = {**ACTIONS, **(actions or {})}

    async def rpc(request: Request) -> JSONResponse:
        request_id = str(uuid.uuid4()).upper()
        try:
            body = await request.body()
            if len(body) > MAX_BODY:
                raise ApiError(400, "EntityTooLarge", f"the request body is over {MAX_BODY} bytes")
            query = dict(parse_qsl(request.url.query, keep_blank_values=True))
            form: dict[str, str] = {}
            if body and "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            try:
                checker.check(request.method, query, form)
            except SignatureRefused as exc:
                raise ApiError(exc.status, exc.code, exc.message) from None
            params = {**query, **form}
            action = params.get("Action") or request.headers.get("x-acs-action", "")
            version = params.get("Version") or request.headers.get("x-acs-version", "")
            if version and version != API_VERSION:
                raise ApiError(400, "APIVersionNotSupported", f"Version {version!r} is not supported; use "
                               f"{API_VERSION}")
            handler = table.get(action)
            if handler is None:
                raise ApiError(400, "ActionNotSupported", f"the action {action!r} is not supported")
            result = await _run(handler, runtime, params)
            result["RequestId"] = request_id
            return JSONResponse(result, headers={"x-acs-request-id": request_id})
        except ApiError as exc:
            return _error(exc.status, exc.code, exc.message, request_id)
        except InvalidTaskToken as exc:
            return _error(400, "InvalidArgument", str(exc), request_id)
        except TaskAlreadyCompleted as exc:
            return _error(400, "TaskAlreadyCompleted", str(exc), request_id)
        except InvalidArgument as exc:
            return _error(400, "InvalidArgument", str(exc), request_id)
        except Exception as exc:  # never an HTML or empty error body
            code = getattr(exc, "code", "InternalServerError")
            status = 404 if code.endswith("NotExists") else 409 if code.endswith("AlreadyExists") else 500
            return _error(status, code, str(exc), request_id)

    return Starlette(routes=[Route("/", rpc, methods=["GET", "POST"])])


async def _run(handler: Handler, runtime: Runtime, params: Mapping[str, str]) -> dict[str, Any]:
    return await run_in_threadpool(handler, runtime, params)
