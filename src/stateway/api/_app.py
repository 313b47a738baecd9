"""Starlette app: ``/`` takes CloudFlow RPC actions, ``/queues`` the MNS-compatible queue API.
Every error is the protocol's own error body, never HTML, never empty."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stateway.api._actions import ACTIONS, NOT_YET, ApiError, CloudFlowService
from stateway.api._mns import QueueApi
from stateway.api._ops import ops_routes
from stateway.api._signature import ProtocolError, SignatureChecker
from stateway.runtime import InvalidArgument, InvalidTaskToken, Runtime, TaskAlreadyCompleted
from stateway.runtime import _metrics as metrics

MAX_BODY = 1024 * 1024
API_VERSION = "2019-03-15"
RESOURCE_STATUS = {"NotExists": 404, "AlreadyExists": 409, "ServiceUnavailable": 503}


def _error(status: int, code: str, message: str, request_id: str) -> JSONResponse:
    return JSONResponse({"RequestId": request_id, "HostId": "stateway", "Code": code, "Message": message},
                        status_code=status, headers={"x-acs-request-id": request_id})


def _status_of(code: str) -> int:
    for suffix, status in RESOURCE_STATUS.items():
        if code.endswith(suffix):
            return status
    return 500


def create_app(runtime: Runtime, credentials: Mapping[str, str], endpoint: str = "") -> Starlette:
    checker = SignatureChecker(credentials)
    service = CloudFlowService(runtime, endpoint)
    queues = QueueApi(runtime.store, checker, runtime.notify_queue)

    async def rpc(request: Request) -> JSONResponse:
        request_id = str(uuid.uuid4()).upper()
        try:
            body = await request.body()
            if len(body) > MAX_BODY:
                raise ApiError(400, "EntityTooLarge", f"the request is over {MAX_BODY} bytes")
            query = dict(parse_qsl(request.url.query, keep_blank_values=True))
            form: dict[str, str] = {}
            if body and "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            headers = {k.lower(): v for k, v in request.headers.items()}
            checker.check_rpc(request.method, query, form, headers, body)
            params = {**query, **form}
            action = params.get("Action") or headers.get("x-acs-action", "")
            version = params.get("Version") or headers.get("x-acs-version", "")
            if version and version != API_VERSION:
                raise ApiError(400, "APIVersionNotSupported", f"Version {version!r} is not supported; use "
                               f"{API_VERSION}")
            handler = ACTIONS.get(action)
            if handler is None:
                detail = "is not supported yet" if action in NOT_YET else "is not supported"
                raise ApiError(400, "ActionNotSupported", f"the action {action!r} {detail}")
            began = time.monotonic()
            result = await run_in_threadpool(handler, service, params)
            metrics.API_SECONDS.labels(action).observe(time.monotonic() - began)
            result["RequestId"] = request_id
            return JSONResponse(result, headers={"x-acs-request-id": request_id})
        except ProtocolError as exc:
            return _error(exc.status, exc.code, exc.message, request_id)
        except (InvalidTaskToken, InvalidArgument) as exc:
            return _error(400, "InvalidArgument", str(exc), request_id)
        except TaskAlreadyCompleted as exc:
            return _error(400, "TaskAlreadyCompleted", str(exc), request_id)
        except Exception as exc:
            code = getattr(exc, "code", "InternalServerError")
            return _error(_status_of(code), code, str(exc), request_id)

    app = Starlette(routes=[Route("/", rpc, methods=["GET", "POST"]), *queues.routes(), *ops_routes(runtime)])
    app.state.service = service
    return app
