"""Starlette app: ``/`` takes CloudFlow RPC actions, ``/queues`` the MNS-compatible queue API.
Every error is the protocol's own error body, never HTML, never empty, never plain text.

Work that touches the store runs on the thread pool (the store's lock may be held by a commit);
the event loop only reads bodies, parses and waits, so a slow or waiting client costs no thread.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from stateway.api._access import authorize
from stateway.api._actions import ACTIONS, ASYNC_ACTIONS, NOT_YET, ApiError, CloudFlowService
from stateway.api._body import parse_form, read_body
from stateway.api._callbacks import CALLBACK_ACTIONS
from stateway.api._maprun import MAP_RUN_ACTIONS
from stateway.api._mns import QueueApi, mns_error
from stateway.api._operations import OPERATION_ACTIONS
from stateway.api._ops import ops_routes
from stateway.api._signature import ProtocolError, SignatureChecker
from stateway.api._versions import VERSION_ACTIONS
from stateway.policies import AccessDenied, Keyring
from stateway.runtime import InvalidArgument, InvalidTaskToken, Runtime, TaskAlreadyCompleted
from stateway.runtime import _metrics as metrics

log = logging.getLogger("stateway.api")

MAX_BODY = 1024 * 1024
API_VERSION = "2019-03-15"
RESOURCE_STATUS = {"NotExists": 404, "AlreadyExists": 409, "InUse": 409, "NotRunning": 409,
                   "ServiceUnavailable": 503}


def _error(status: int, code: str, message: str, request_id: str) -> JSONResponse:
    return JSONResponse({"RequestId": request_id, "HostId": "stateway", "Code": code, "Message": message},
                        status_code=status, headers={"x-acs-request-id": request_id})


def _status_of(code: str) -> int:
    for suffix, status in RESOURCE_STATUS.items():
        if code.endswith(suffix):
            return status
    return 500


def _no_route(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in the error format of the protocol the path belongs to."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    method, path = request.method, request.url.path
    if path == "/queues" or path.startswith("/queues/"):
        if status == 405:
            return mns_error(405, "MethodNotAllowed", f"The method {method} is not allowed on {path}.")
        return mns_error(404, "ResourceNotExist", f"The resource {path} does not exist.")
    request_id = str(uuid.uuid4()).upper()
    if status == 405:
        return _error(405, "MethodNotAllowed", f"{method} is not allowed on {path}: send actions with GET or POST",
                      request_id)
    return _error(404, "InvalidAction.NotFound", f"no API at {path}: CloudFlow actions are served on /", request_id)


def create_app(runtime: Runtime, credentials: Mapping[str, str], endpoint: str = "") -> Starlette:
    """``credentials``: id → secret, or a ``Keyring`` (keys with their policies, reloadable)."""
    keyring = Keyring.of(credentials)
    checker = SignatureChecker(keyring, runtime.store)
    service = CloudFlowService(runtime, endpoint)  # builds the application services (stateway.app)
    queues = QueueApi(service.app, checker, keyring)

    def checked(method: str, query: dict[str, str], form: dict[str, str], headers: dict[str, str],
                body: bytes, params: dict[str, str]) -> tuple[dict[str, Any] | None, CloudFlowService]:
        """Signature, version, access, and the action itself when it is not a long poll (None then);
        and the service the action runs on (the key's view)."""
        key_id = checker.check_rpc(method, query, form, headers, body)
        action = params.get("Action") or headers.get("x-acs-action", "")
        version = params.get("Version") or headers.get("x-acs-version", "")
        if version and version != API_VERSION:
            raise ApiError(400, "APIVersionNotSupported", f"Version {version[:64]!r} is not supported; use "
                           f"{API_VERSION}")
        handler = (CALLBACK_ACTIONS.get(action) or VERSION_ACTIONS.get(action) or MAP_RUN_ACTIONS.get(action)
                   or OPERATION_ACTIONS.get(action) or ACTIONS.get(action))
        if handler is None and action not in ASYNC_ACTIONS:
            detail = "is not supported yet" if action in NOT_YET else "is not supported"
            raise ApiError(400, "ActionNotSupported", f"the action {action[:64]!r} {detail}")
        view = authorize(service, keyring.policy(key_id), key_id, action, params)
        if action in ASYNC_ACTIONS:
            return None, view
        return handler(view, params), view

    async def rpc(request: Request) -> JSONResponse:
        request_id = str(uuid.uuid4()).upper()
        try:
            body = await read_body(request, MAX_BODY, lambda m: ApiError(400, "EntityTooLarge", m))
            query = parse_form(request.scope["query_string"], "the query string")
            form: dict[str, str] = {}
            if body and "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
                form = parse_form(body, "the form body")
            headers = {k.lower(): v for k, v in request.headers.items()}
            params = {**query, **form}
            began = time.monotonic()
            result, view = await run_in_threadpool(checked, request.method, query, form, headers, body, params)
            action = params.get("Action") or headers.get("x-acs-action", "")
            if result is None:
                result = await ASYNC_ACTIONS[action](view, params)
            metrics.API_SECONDS.labels(action).observe(time.monotonic() - began)
            result["RequestId"] = request_id
            return JSONResponse(result, headers={"x-acs-request-id": request_id})
        except ProtocolError as exc:
            return _error(exc.status, exc.code, exc.message, request_id)
        except AccessDenied as exc:
            return _error(403, exc.code, str(exc), request_id)
        except (InvalidTaskToken, InvalidArgument) as exc:
            return _error(400, "InvalidArgument", str(exc), request_id)
        except TaskAlreadyCompleted as exc:
            return _error(400, "TaskAlreadyCompleted", str(exc), request_id)
        except Exception as exc:
            code = getattr(exc, "code", "InternalServerError")
            status = _status_of(code)
            if status == 500:
                log.exception("request %s failed", request_id)
            return _error(status, code, str(exc), request_id)

    from stateway.console import create_console

    app = Starlette(routes=[Route("/", rpc, methods=["GET", "POST"]), *queues.routes(), *ops_routes(runtime),
                            Mount("/console", app=create_console(service.app, keyring))],
                    exception_handlers={404: _no_route, 405: _no_route})
    app.state.service = service
    app.state.queues = queues
    app.state.app = service.app
    app.state.keyring = keyring
    return app
