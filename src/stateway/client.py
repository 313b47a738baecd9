"""A small signed RPC client for Stateway's own CLI (users may equally use the official SDK)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from stateway.api._signature import DEV_CREDENTIALS, sign_rpc_v1

POST_ACTIONS = {"ReportTaskSucceeded", "ReportTaskFailed", "ReportTaskHeartbeat", "StopExecution", "StartExecution", "CreateFlow",
                "UpdateFlow", "PublishFlowVersion", "DeleteFlowVersion", "CreateFlowAlias", "UpdateFlowAlias",
                "DeleteFlowAlias"}


class ApiCallError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class RpcClient:
    def __init__(self, endpoint: str | None = None, access_key_id: str | None = None,
                 access_key_secret: str | None = None) -> None:
        endpoint = endpoint or os.environ.get("STATEWAY_ENDPOINT") or "127.0.0.1:8765"
        self.base = endpoint if "://" in endpoint else f"http://{endpoint}"
        default_id, default_secret = next(iter(DEV_CREDENTIALS.items()))
        self.key_id = access_key_id or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID") or default_id
        self.secret = access_key_secret or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET") or default_secret
        self._http: httpx.Client | None = None  # one client, made on first call: each new one costs ~0.1 s (TLS setup)

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        method = "POST" if action in POST_ACTIONS else "GET"
        clean = {k: str(v) for k, v in params.items() if v is not None}
        query = sign_rpc_v1(method, action, clean, self.key_id, self.secret)
        try:
            if self._http is None:
                self._http = httpx.Client(timeout=70)
            # a POST carries its parameters as a form body: a large Input does not fit in a URL
            response = (self._http.post(self.base + "/", data=query) if method == "POST" else
                        self._http.get(self.base + "/", params=query))
        except httpx.HTTPError as exc:
            raise ApiCallError(0, "ConnectionError", f"cannot reach {self.base}: {exc}") from None
        data = response.json()
        if response.status_code >= 400:
            raise ApiCallError(response.status_code, data.get("Code", "Unknown"), data.get("Message", ""))
        return data
