"""HTTP:Request with httpx. In WaitForCustomCallback the token travels in a request header.

The response body is streamed and refused once it passes the data limit (``[limits]
payload_bytes``), so a huge response costs at most that much memory. Optional ``[http] allow`` and
``deny`` lists (host names, ``*.suffix`` patterns, IP addresses and CIDR ranges) say which hosts a
flow may call; see docs/api.md for what they do and do not protect against.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import json
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from stateway.runtime._context import IntegrationContext
from stateway.runtime._outcomes import Completed, IntegrationError, Outcome, Submitted, TaskCall
from stateway.runtime._registry import Integration
from stateway.settings import HttpSettings
from stateway.telemetry import traceparent_for

TOKEN_HEADER = "X-FnF-Http-Callback-Task-Token"
DEFAULT_TIMEOUT = 60.0
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HostRules:
    """``[http] allow``/``deny``: a host is refused if it matches deny, or if allow is given and it
    does not match allow. A name matches by pattern; an address (the URL's, or each one the name
    resolves to) by network. With an allow list, every resolved address must be allowed."""

    allow_names: tuple[str, ...] = ()
    allow_networks: tuple[Network, ...] = ()
    deny_names: tuple[str, ...] = ()
    deny_networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, config: dict[str, Any] | None) -> HostRules:
        config = config or {}
        unknown = set(config) - {"allow", "deny"}
        if unknown:
            raise ValueError(f"[http] takes allow and deny, not {', '.join(sorted(unknown))}")
        parts: dict[str, tuple[list[str], list[Network]]] = {}
        for key in ("allow", "deny"):
            entries = config.get(key, [])
            if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
                raise ValueError(f"[http] {key} must be a list of host names, addresses or CIDR ranges")
            names: list[str] = []
            networks: list[Network] = []
            for entry in entries:
                try:
                    networks.append(ipaddress.ip_network(entry.strip(), strict=False))
                except ValueError:
                    if "/" in entry or " " in entry.strip():
                        raise ValueError(f"[http] {key}: {entry!r} is neither a host name nor a CIDR range") from None
                    names.append(entry.strip().lower().rstrip("."))
            parts[key] = (names, networks)
        return cls(tuple(parts["allow"][0]), tuple(parts["allow"][1]), tuple(parts["deny"][0]),
                   tuple(parts["deny"][1]))

    @classmethod
    def of(cls, settings: HttpSettings) -> HostRules:
        """The rules of ``[http]`` as loaded (already checked) into the settings."""
        return cls.parse({"allow": list(settings.allow), "deny": list(settings.deny)})

    @property
    def active(self) -> bool:
        return bool(self.allow_names or self.allow_networks or self.deny_names or self.deny_networks)

    @staticmethod
    def _name_in(host: str, patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(host, p) for p in patterns)

    def refusal(self, host: str, addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> str | None:
        """Why ``host`` (resolving to ``addresses``) may not be called, or None."""
        host = host.lower().rstrip(".")
        if self._name_in(host, self.deny_names):
            return f"the host {host} is denied by [http] deny"
        for address in addresses:
            if any(address in n for n in self.deny_networks):
                return f"the host {host} ({address}) is denied by [http] deny"
        if not (self.allow_names or self.allow_networks) or self._name_in(host, self.allow_names):
            return None
        for address in addresses:
            if not any(address in n for n in self.allow_networks):
                return f"the host {host} ({address}) is not in [http] allow"
        return None if addresses else f"the host {host} is not in [http] allow"


async def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


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
            if rules.active:
                parts = urlsplit(url)
                host = parts.hostname or ""
                try:
                    addresses = await _addresses(host, parts.port or (443 if parts.scheme == "https" else 80))
                except OSError as exc:
                    raise IntegrationError("HTTP.ConnectionError", f"{method} {url}: {exc}") from None
                why = rules.refusal(host, addresses)
                if why is not None:
                    raise IntegrationError("HTTP.HostNotAllowed", f"{method} {url}: {why}")
            async with httpx.AsyncClient(timeout=timeout) as client:
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

        loop = asyncio.new_event_loop()
        task = loop.create_task(send())
        with self._lock:
            self._inflight[call.key] = (loop, task)
        try:
            response, data = loop.run_until_complete(task)
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
