"""A small signed RPC client for Stateway's own CLI (users may equally use the official SDK).

Plain-HTTP endpoints are called over the standard library's ``http.client``, one keep-alive
connection per calling thread: httpx costs several times its CPU per small request (its request and
response models, the connection pool's bookkeeping), and a client sharing the machine with the
engine takes that CPU from it. HTTPS endpoints, and endpoints reached through a proxy named in the
environment (which httpx honours), go through httpx as before.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import threading
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import httpx

from stateway.api._signature import DEV_CREDENTIALS, sign_rpc_v1, signed_rpc_v1_text

POST_ACTIONS = {"ReportTaskSucceeded", "ReportTaskFailed", "ReportTaskHeartbeat", "StopExecution", "StartExecution", "CreateFlow",
                "UpdateFlow", "PublishFlowVersion", "DeleteFlowVersion", "CreateFlowAlias", "UpdateFlowAlias",
                "DeleteFlowAlias"}
TIMEOUT = 70.0
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class ApiCallError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def _lean_target(base: str) -> tuple[str, int, str] | None:
    """(host, port, path prefix) when ``base`` is plain HTTP reached without a proxy, else None."""
    parts = urlsplit(base)
    if parts.scheme != "http" or not parts.hostname or parts.username or parts.password:
        return None
    proxies = urllib.request.getproxies_environment()
    if ("http" in proxies or "all" in proxies) and not urllib.request.proxy_bypass_environment(parts.hostname, proxies):
        return None
    try:
        port = parts.port or 80
    except ValueError:
        return None
    return parts.hostname, port, parts.path.rstrip("/")


class RpcClient:
    def __init__(self, endpoint: str | None = None, access_key_id: str | None = None,
                 access_key_secret: str | None = None) -> None:
        endpoint = endpoint or os.environ.get("STATEWAY_ENDPOINT") or "127.0.0.1:8765"
        self.base = endpoint if "://" in endpoint else f"http://{endpoint}"
        default_id, default_secret = next(iter(DEV_CREDENTIALS.items()))
        self.key_id = access_key_id or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID") or default_id
        self.secret = access_key_secret or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET") or default_secret
        self._http: httpx.Client | None = None  # one client, made on first call: each new one costs ~0.1 s (TLS setup)
        self._lean = _lean_target(self.base)
        self._local = threading.local()  # the lean path's connection of each calling thread

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        method = "POST" if action in POST_ACTIONS else "GET"
        clean = {k: str(v) for k, v in params.items() if v is not None}
        if self._lean is not None:
            status, data = self._send(method, signed_rpc_v1_text(method, action, clean, self.key_id, self.secret))
        else:
            status, data = self._send_httpx(method, sign_rpc_v1(method, action, clean, self.key_id, self.secret))
        if status >= 400:
            raise ApiCallError(status, data.get("Code", "Unknown"), data.get("Message", ""))
        return data

    def _send_httpx(self, method: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            if self._http is None:
                self._http = httpx.Client(timeout=TIMEOUT)
            # a POST carries its parameters as a form body: a large Input does not fit in a URL
            response = (self._http.post(self.base + "/", data=query) if method == "POST" else
                        self._http.get(self.base + "/", params=query))
        except httpx.HTTPError as exc:
            raise ApiCallError(0, "ConnectionError", f"cannot reach {self.base}: {exc}") from None
        return response.status_code, response.json()

    def _send(self, method: str, encoded: str) -> tuple[int, dict[str, Any]]:
        assert self._lean is not None
        host, port, prefix = self._lean
        conn = self._connection(host, port)
        try:
            if method == "POST":  # a form body, as for httpx: a large Input does not fit in a URL
                conn.request("POST", prefix + "/", body=encoded.encode(), headers=FORM)
            else:
                conn.request("GET", f"{prefix}/?{encoded}")
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            self._local.conn = None
            raise ApiCallError(0, "ConnectionError", f"cannot reach {self.base}: {exc}") from None
        if response.will_close:
            conn.close()
            self._local.conn = None
        return response.status, json.loads(body)

    def _connection(self, host: str, port: int) -> http.client.HTTPConnection:
        """This thread's keep-alive connection; a new one when the server has closed it meanwhile
        (readable while idle: its end of stream), as httpx's pool checks before reusing one."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None:
            try:
                readable = select.select([conn.sock], [], [], 0)[0]
            except (OSError, ValueError):
                readable = [conn.sock]
            if readable:
                conn.close()
                conn = None
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        return conn
