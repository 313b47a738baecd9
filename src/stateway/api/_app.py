"""Starlette app: ``/`` takes CloudFlow RPC actions, ``/queues`` the MNS-compatible queue API.
Every error is the protocol's own error body, never HTML, never empty, never plain text.

Work that touches the store runs on the thread pool (the store's lock may be held by a commit);
the event loop only reads bodies, parses and waits, so a slow or waiting client costs no thread.

The RPC path (``GET``/``POST /``) is answered by ``StatewayApi.__call__`` on the ASGI interface
itself, and its work handed to a thread pool of its own: Starlette's middleware, request object and
anyio's thread hop cost more CPU than the action on a small request (``many.http_start_rps``).
Every other path goes through Starlette as before; the answers are the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from stateway.api._access import authorize
from stateway.api._actions import ACTIONS, ASYNC_ACTIONS, NOT_YET, ApiError, CloudFlowService
from stateway.api._body import parse_form, read_asgi_body, read_body
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
RPC_THREADS = 32  # the RPC path's thread pool (anyio's default pool, the console's, has 40)
RPC_METHODS = frozenset({"GET", "POST"})
# actions whose first effect is a store write: their signature nonce is written in that transaction
# (store/_sql_nonces.py), so a replay rolls back with it; every other action records it first
NONCE_WITH_WRITE = frozenset({"StartExecution", "ReportTaskSucceeded", "ReportTaskFailed"})


def render(value: Any) -> bytes:
    """JSON as Starlette's JSONResponse writes it (compact, UTF-8), by orjson when it can."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # an integer beyond 64 bits, a non-str key
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"RequestId": request_id, "HostId": "stateway", "Code": code, "Message": message}


def _json(status: int, payload: dict[str, Any], request_id: str) -> Response:
    return Response(render(payload), status_code=status, media_type="application/json",
                    headers={"x-acs-request-id": request_id})


def _error(status: int, code: str, message: str, request_id: str) -> Response:
    return _json(status, _error_body(code, message, request_id), request_id)


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


class StatewayApi(Starlette):
    """Starlette, with the RPC path answered before its middleware (see the module's docstring)."""

    rpc: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
    rpc_threads: ThreadPoolExecutor | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.rpc is not None and scope["type"] == "http" and scope["path"] == "/"
                and not scope.get("root_path") and scope["method"] in RPC_METHODS):
            scope["app"] = self
            await self.rpc(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(runtime: Runtime, credentials: Mapping[str, str], endpoint: str = "") -> StatewayApi:
    """``credentials``: id → secret, or a ``Keyring`` (keys with their policies, reloadable)."""
    keyring = Keyring.of(credentials)
    checker = SignatureChecker(keyring, runtime.store)
    service = CloudFlowService(runtime, endpoint)  # builds the application services (stateway.app)
    queues = QueueApi(service.app, checker, keyring)

    def checked(method: str, query: dict[str, str], form: dict[str, str], headers: dict[str, str],
                body: bytes, params: dict[str, str]) -> tuple[dict[str, Any] | None, CloudFlowService]:
        """Signature, version, access, and the action itself when it is not a long poll (None then);
        and the service the action runs on (the key's view)."""
        key_id, nonce = checker.verify_rpc(method, query, form, headers, body)
        action = params.get("Action") or headers.get("x-acs-action", "")
        if action in NONCE_WITH_WRITE:  # recorded in the action's own transaction: one commit fewer
            with checker.remembered_with_write(nonce):
                return act(key_id, action, params, headers)
        checker.remember(nonce)
        return act(key_id, action, params, headers)

    def act(key_id: str, action: str, params: dict[str, str], headers: dict[str, str]
            ) -> tuple[dict[str, Any] | None, CloudFlowService]:
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

    threads = ThreadPoolExecutor(RPC_THREADS, thread_name_prefix="stateway-rpc")
    service.on_close.append(lambda: threads.shutdown(wait=False))
    timers: dict[str, Any] = {}

    async def answer(method: str, raw_query: bytes, headers: dict[str, str],
                     read: Callable[[], Awaitable[bytes]]) -> tuple[int, dict[str, Any], str]:
        """(status, body, request id) of one RPC request; ``headers``: lower-case names."""
        request_id = str(uuid.uuid4()).upper()
        try:
            body = await read()
            query = parse_form(raw_query, "the query string")
            form: dict[str, str] = {}
            if body and "application/x-www-form-urlencoded" in headers.get("content-type", ""):
                form = parse_form(body, "the form body")
            params = {**query, **form}
            began = time.monotonic()
            result, view = await asyncio.get_running_loop().run_in_executor(
                threads, checked, method, query, form, headers, body, params)
            action = params.get("Action") or headers.get("x-acs-action", "")
            if result is None:
                result = await ASYNC_ACTIONS[action](view, params)
            timer = timers.get(action)
            if timer is None:  # one labelled child per action: labels() takes a lock and builds a key
                timer = timers[action] = metrics.API_SECONDS.labels(action)
            timer.observe(time.monotonic() - began)
            result["RequestId"] = request_id
            return 200, result, request_id
        except ClientDisconnect:
            raise
        except ProtocolError as exc:
            return exc.status, _error_body(exc.code, exc.message, request_id), request_id
        except AccessDenied as exc:
            return 403, _error_body(exc.code, str(exc), request_id), request_id
        except (InvalidTaskToken, InvalidArgument) as exc:
            return 400, _error_body("InvalidArgument", str(exc), request_id), request_id
        except TaskAlreadyCompleted as exc:
            return 400, _error_body("TaskAlreadyCompleted", str(exc), request_id), request_id
        except Exception as exc:
            code = getattr(exc, "code", "InternalServerError")
            status = _status_of(code)
            if status == 500:
                log.exception("request %s failed", request_id)
            return status, _error_body(code, str(exc), request_id), request_id

    async def rpc(request: Request) -> Response:
        """The RPC path through Starlette (what ``StatewayApi`` does not take itself)."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, payload, request_id = await answer(
            request.method, request.scope["query_string"], headers,
            lambda: read_body(request, MAX_BODY, lambda m: ApiError(400, "EntityTooLarge", m)))
        return _json(status, payload, request_id)

    async def rpc_asgi(scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            status, payload, request_id = await answer(
                scope["method"], scope["query_string"], headers,
                lambda: read_asgi_body(headers.get("content-length"), receive, MAX_BODY,
                                       lambda m: ApiError(400, "EntityTooLarge", m)))
        except ClientDisconnect:
            return
        content = render(payload)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-length", str(len(content)).encode()), (b"content-type", b"application/json"),
            (b"x-acs-request-id", request_id.encode())]})
        await send({"type": "http.response.body", "body": content})

    from stateway.console import create_console

    app = StatewayApi(routes=[Route("/", rpc, methods=["GET", "POST"]), *queues.routes(), *ops_routes(runtime),
                              Mount("/console", app=create_console(service.app, keyring))],
                      exception_handlers={404: _no_route, 405: _no_route})
    app.rpc = rpc_asgi
    app.rpc_threads = threads
    app.state.service = service
    app.state.queues = queues
    app.state.app = service.app
    app.state.keyring = keyring
    return app
