"""HTTP:Request with httpx. In WaitForCustomCallback the token travels in a request header."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx

from stateway.runtime._outcomes import Completed, IntegrationError, Outcome, Submitted, TaskCall
from stateway.runtime._registry import Integration

TOKEN_HEADER = "X-FnF-Http-Callback-Task-Token"
DEFAULT_TIMEOUT = 60.0


class HttpRequest(Integration):
    action = "HTTP:Request"
    modes = frozenset({"RequestComplete", "WaitForCustomCallback"})
    parameters = frozenset({"url", "method", "headers", "body", "timeout"})

    def __init__(self, runtime):  # type: ignore[no-untyped-def]
        super().__init__(runtime)
        # each request runs on an event loop of its own, so that a cancel from another thread can
        # abort it at once (closing a blocking client does not interrupt a read in progress)
        self._inflight: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[httpx.Response]]] = {}
        self._lock = threading.Lock()

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
        timeout = float(params.get("timeout") or call.timeout or DEFAULT_TIMEOUT)

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(timeout=timeout) as client:
                return await client.request(method, url, headers=headers, content=content)

        loop = asyncio.new_event_loop()
        task = loop.create_task(send())
        with self._lock:
            self._inflight[call.key] = (loop, task)
        try:
            response = loop.run_until_complete(task)
        except asyncio.CancelledError:
            raise IntegrationError("FnF.TaskCancelled", f"{method} {url} was aborted by a cancel") from None
        except httpx.TimeoutException:
            raise IntegrationError("HTTP.Timeout", f"{method} {url} did not answer within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise IntegrationError("HTTP.ConnectionError", f"{method} {url}: {exc}") from None
        finally:
            with self._lock:
                self._inflight.pop(call.key, None)
            loop.close()
        result = {"Code": response.status_code, "Header": dict(response.headers), "Body": response.text}
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
