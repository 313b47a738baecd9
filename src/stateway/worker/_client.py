"""The worker's calls to Stateway's API: report a task's result or a heartbeat, and say which
failures are worth trying again (the server unreachable, restarting, overloaded) and which are final."""

from __future__ import annotations

import json
import os
import random
import threading
from typing import Any

import httpx

from stateway.api._signature import DEV_CREDENTIALS, sign_rpc_v1

# answers that mean "this task is over": the message is done, whatever the report said
ENDED_CODES = frozenset({"TaskAlreadyCompleted", "ExecutionNotExists", "ExecutionNotExist", "FlowNotExists"})
TRANSIENT_CODES = frozenset({"ConnectionError", "ServiceUnavailable", "Throttling", "Throttling.User",
                             "InternalServerError", "InternalError", "StoreUnavailable", "BadResponse"})
CAUSE_LIMIT = 4096
ERROR_LIMIT = 128


class ReportError(Exception):
    """The API refused or could not take a call: ``status`` 0 when it was not reached."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status >= 500 or self.code in TRANSIENT_CODES

    @property
    def task_ended(self) -> bool:
        return self.code in ENDED_CODES


def backoff(attempt: int, base: float = 0.2, cap: float = 10.0) -> float:
    """Capped exponential backoff with full jitter: many workers retrying do not retry in step."""
    return random.uniform(0.5, 1.0) * min(cap, base * 2 ** max(0, attempt - 1))


class FlowClient:
    """Signed RPC calls (the CLI's signature), one HTTP connection pool, safe to share between threads."""

    def __init__(self, endpoint: str | None = None, access_key_id: str | None = None,
                 access_key_secret: str | None = None, timeout: float = 30.0) -> None:
        endpoint = endpoint or os.environ.get("STATEWAY_ENDPOINT") or "127.0.0.1:8765"
        self.endpoint = endpoint.split("://", 1)[-1].rstrip("/")
        self.base = endpoint.rstrip("/") if "://" in endpoint else f"http://{endpoint}"
        default_id, default_secret = next(iter(DEV_CREDENTIALS.items()))
        self.key_id = access_key_id or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID") or default_id
        self.secret = access_key_secret or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET") or default_secret
        self._http = httpx.Client(timeout=timeout)
        self._lock = threading.Lock()

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        clean = {k: str(v) for k, v in params.items() if v is not None}
        form = sign_rpc_v1("POST", action, clean, self.key_id, self.secret)
        try:
            response = self._http.post(self.base + "/", data=form)
        except httpx.HTTPError as exc:
            raise ReportError(0, "ConnectionError", f"cannot reach {self.base}: {exc}") from None
        try:
            data = response.json()
        except ValueError:
            # a proxy's or a stopping server's plain-text answer: say what came, retry if it was a 5xx
            raise ReportError(response.status_code, "BadResponse",
                              f"HTTP {response.status_code}: {response.text[:200]!r}") from None
        if response.status_code >= 400:
            raise ReportError(response.status_code, str(data.get("Code", "Unknown")), str(data.get("Message", "")))
        return data

    # -- what a worker reports --------------------------------------------------------------------------
    def succeed(self, token: str, output: dict[str, Any]) -> dict[str, Any]:
        return self.call("ReportTaskSucceeded", TaskToken=token, Output=json.dumps(output, ensure_ascii=False))

    def fail(self, token: str, error: str, cause: str = "") -> dict[str, Any]:
        return self.call("ReportTaskFailed", TaskToken=token, Error=(error or "Error")[:ERROR_LIMIT],
                         Cause=(cause or "")[:CAUSE_LIMIT])

    def heartbeat(self, token: str, include_key: bool = False) -> dict[str, Any]:
        """``{"HeartbeatSeconds": window or 0}``, with ``"CorrelationKey"`` when asked."""
        return self.call("ReportTaskHeartbeat", TaskToken=token, IncludeKey="true" if include_key else None)

    def close(self) -> None:
        self._http.close()
