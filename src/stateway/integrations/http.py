"""HTTP:Request with httpx. In WaitForCustomCallback the token travels in a request header.

The response body is streamed and refused once it passes the data limit (``[limits]
payload_bytes``), so a huge response costs at most that much memory. The task's ``timeout`` is a
deadline for the whole request, from the name lookup to the last byte, so a server that drips its
answer cannot hold a task longer. ``[http] allow``, ``deny`` and ``internal`` say which hosts a flow
may call (``_http_guard.py``); see docs/api.md for what they do and do not protect against.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from urllib.parse import urlsplit

import httpx

from stateway.integrations._http_guard import HostRules, PinnedBackend, resolve
from stateway.runtime._context import IntegrationContext
from stateway.runtime._outcomes import Completed, IntegrationError, Outcome, Submitted, TaskCall
from stateway.runtime._registry import Integration
from stateway.telemetry import traceparent_for

TOKEN_HEADER = "X-FnF-Http-Callback-Task-Token"
DEFAULT_TIMEOUT = 60.0


def _transport(backend: PinnedBackend, verify: ssl.SSLContext | bool = True) -> httpx.AsyncHTTPTransport:
    """httpx's transport, connecting through ``backend``; TLS checks the URL's host name (and sends
    it as SNI) as usual. httpx has no public way to hand its connection pool a network backend, so
    it is set on the pool (checked, to fail loudly if that pool ever changes shape)."""
    transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpx has no connection pool network backend to pin addresses with")
    pool._network_backend = backend
    return transport


class HttpRequest(Integration):
    action = "HTTP:Request"
    modes = frozenset({"RequestComplete", "WaitForCustomCallback"})
    parameters = frozenset({"url", "method", "headers", "body", "timeout"})

    def __init__(self, context: IntegrationContext) -> None:
        super().__init__(context)
        # each request runs on an event loop of its own, so that a cancel from another thread can
        # abort it at once (closing a blocking client does not interrupt a read in progress)
        self._inflight: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[tuple[httpx.Response, bytes]]]] = {}
        self._lock = threading.Lock()
        self._rules: HostRules | None = None

    def rules(self) -> HostRules:
        if self._rules is None:
            self._rules = HostRules.of(self.context.settings.http)
        return self._rules

    def invoke(self, call: TaskCall) -> Outcome:
        params = call.parameters
        url = params.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise IntegrationError("FnF.InvalidArgument", f"HTTP:Request needs an http(s) 'url', got {url!r}")
        method = str(params.get("method", "GET")).upper()
        headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
        body = params.get("body")
        content = None if body is None else body if isinstance(body, str) else json.dumps(body)
        if content is not None and not isinstance(body, str):
            headers.setdefault("Content-Type", "application/json")
        if call.mode == "WaitForCustomCallback":
            headers[TOKEN_HEADER] = call.token
        if traceparent := traceparent_for(call.execution_id, call.task_id):  # the server continues the task's span
            headers.setdefault("traceparent", traceparent)
        timeout = float(params.get("timeout") or call.timeout or DEFAULT_TIMEOUT)
        limit = self.context.settings.limits.payload_bytes
        rules = self.rules()

        async def send() -> tuple[httpx.Response, bytes]:
            parts = urlsplit(url)
            host = parts.hostname or ""
            try:
                targets = await resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
            except (OSError, UnicodeError) as exc:
                raise IntegrationError("HTTP.ConnectionError", f"{method} {url}: {exc}") from None
            why = rules.refusal(host, [t.address for t in targets])
            if why is not None:
                raise IntegrationError("HTTP.HostNotAllowed", f"{method} {url}: {why}")
            transport = _transport(PinnedBackend(host, targets))
            async with httpx.AsyncClient(timeout=timeout, transport=transport, trust_env=False) as client:
                async with client.stream(method, url, headers=headers, content=content) as response:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise IntegrationError("FnF.DataLimitExceeded", f"{method} {url}: the response body "
                                                   f"is over the data limit of {limit} bytes")
                        chunks.append(chunk)
                    return response, b"".join(chunks)

        async def within_deadline() -> tuple[httpx.Response, bytes]:
            async with asyncio.timeout(timeout):  # httpx's own timeouts bound each read, not the whole
                return await send()

        loop = asyncio.new_event_loop()
        task = loop.create_task(within_deadline())
        with self._lock:
            self._inflight[call.key] = (loop, task)
        try:
            response, data = loop.run_until_complete(task)
        except asyncio.CancelledError:
            raise IntegrationError("FnF.TaskCancelled", f"{method} {url} was aborted by a cancel") from None
        except (httpx.TimeoutException, TimeoutError):
            raise IntegrationError("HTTP.Timeout", f"{method} {url} did not complete within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise IntegrationError("HTTP.ConnectionError", f"{method} {url}: {exc}") from None
        except (httpx.InvalidURL, ValueError) as exc:  # a URL httpx cannot send (a bad port, host or character)
            raise IntegrationError("FnF.InvalidArgument", f"HTTP:Request url {url!r}: {exc}") from None
        finally:
            with self._lock:
                self._inflight.pop(call.key, None)
            loop.close()
        try:
            text = data.decode(response.charset_encoding or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            text = data.decode("utf-8", errors="replace")
        result = {"Code": response.status_code, "Header": dict(response.headers), "Body": text}
        if call.mode == "WaitForCustomCallback":
            return Submitted(result)
        return Completed(result)

    def cancel(self, call: TaskCall, reason: str) -> str:
        with self._lock:
            inflight = self._inflight.get(call.key)
        if inflight is None:
            return "no request in flight"
        loop, task = inflight
        loop.call_soon_threadsafe(task.cancel)
        return "aborted the request in flight"
