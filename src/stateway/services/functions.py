"""The local function runtime (stands in for Function Compute).

A function is ``DIR/<name>.py`` with ``handler(event, context)`` (FC2 ARNs look in
``DIR/<service>/<name>.py`` first), or an entry in ``stateway.toml`` under ``[functions.<name>]``
with ``url`` (HTTP endpoint) or ``command`` (event on stdin, result on stdout), and ``timeout``.
Every invocation runs in a process group of its own so that a cancel kills all of it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from stateway.runtime._outcomes import IntegrationError

DEFAULT_TIMEOUT = 60.0
_FC3 = re.compile(r"^acs:fc:[^:]*:[^:]*:functions/(?P<name>[^/]+)(?:/(?P<qualifier>[^/]+))?$")
_FC2 = re.compile(r"^acs:fc:[^:]*:[^:]*:services/(?P<service>[^./]+)(?:\.(?P<qualifier>[^/]+))?/functions/(?P<name>[^/]+)$")


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    kind: str  # "python", "http" or "command"
    target: str
    timeout: float


def _set_death_signal() -> None:
    """Run in the child: new session (own process group), and die if the engine dies."""
    os.setsid()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class FunctionRuntime:
    def __init__(self, directory: str | Path | None = None, config: dict[str, Any] | None = None,
                 environment: dict[str, str] | None = None) -> None:
        self.directory = Path(directory) if directory else None
        self.config = config or {}
        if self.directory is not None and not config:
            toml_path = self.directory / "stateway.toml"
            if toml_path.exists():
                self.config = tomllib.loads(toml_path.read_text()).get("functions", {})
        self.environment = environment or {}
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, arn: Any) -> FunctionSpec:
        if not isinstance(arn, str):
            raise IntegrationError("FnF.InvalidArgument", "FC:InvokeFunction needs a 'resourceArn' text parameter")
        m2, m3 = _FC2.match(arn), _FC3.match(arn)
        if not (m2 or m3):
            raise IntegrationError("FnF.InvalidArgument", f"not a function ARN: {arn!r} (expected "
                                   "acs:fc:{region}:{account}:functions/{name} or .../services/{svc}.{q}/functions/{name})")
        name = (m2 or m3).group("name")  # type: ignore[union-attr]
        candidates: list[Path] = []
        if self.directory is not None:
            if m2:
                candidates.append(self.directory / m2.group("service") / f"{name}.py")
            candidates.append(self.directory / f"{name}.py")
        entry = self.config.get(name)
        if isinstance(entry, dict):
            timeout = float(entry.get("timeout", DEFAULT_TIMEOUT))
            if "url" in entry:
                return FunctionSpec(name, "http", str(entry["url"]), timeout)
            if "command" in entry:
                return FunctionSpec(name, "command", str(entry["command"]), timeout)
            if "file" in entry:
                return FunctionSpec(name, "python", str(Path(self.directory or ".") / entry["file"]), timeout)
        for path in candidates:
            if path.is_file():
                timeout = float(entry.get("timeout", DEFAULT_TIMEOUT)) if isinstance(entry, dict) else DEFAULT_TIMEOUT
                return FunctionSpec(name, "python", str(path), timeout)
        where = f" in {self.directory}" if self.directory else " (no --functions directory was given)"
        raise IntegrationError("FC.FunctionNotFound", f"function {name!r} not found{where}")

    def invoke(self, spec: FunctionSpec, event: Any, request_id: str, key: str,
               timeout: float | None = None) -> Any:
        """Run the function to completion; its return value, or IntegrationError."""
        limit = min(timeout, spec.timeout) if timeout else spec.timeout
        if spec.kind == "http":
            return self._invoke_http(spec, event, request_id, limit)
        context = {"request_id": request_id, "function_name": spec.name, "requestId": request_id,
                   "function": {"name": spec.name}}
        if spec.kind == "python":
            argv = [sys.executable, "-m", "stateway.services.function_host"]
            stdin = json.dumps({"file": spec.target, "event": event, "context": context})
        else:
            argv = ["/bin/sh", "-c", spec.target]
            stdin = json.dumps(event)
        env = {**os.environ, **self.environment, "STATEWAY_REQUEST_ID": request_id,
               "STATEWAY_FUNCTION_NAME": spec.name}
        with self._lock:
            if key in self._cancelled:
                self._cancelled.discard(key)
                raise IntegrationError("FnF.TaskCancelled", "the invocation was cancelled before it started")
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env, preexec_fn=_set_death_signal)
            self._running[key] = proc
        try:
            out, err = proc.communicate(stdin.encode(), timeout=limit)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            proc.communicate()
            raise IntegrationError("FC.FunctionTimeout", f"function {spec.name!r} ran past its timeout of {limit:g}s") from None
        finally:
            with self._lock:
                self._running.pop(key, None)
                cancelled = key in self._cancelled
                self._cancelled.discard(key)
        if cancelled:
            raise IntegrationError("FnF.TaskCancelled", f"function {spec.name!r} was killed by a cancel")
        if spec.kind == "command":
            if proc.returncode != 0:
                raise IntegrationError("FC.Unknown", (err.decode(errors="replace").strip() or
                                                      f"command exited with {proc.returncode}")[-4096:])
            return _json_or_text(out.decode(errors="replace"))
        lines = out.decode(errors="replace").strip().splitlines()
        if not lines:
            raise IntegrationError("FC.Unknown", f"function {spec.name!r} exited with {proc.returncode} and no "
                                   f"result: {err.decode(errors='replace')[-2000:]}")
        reply = json.loads(lines[-1])
        if not reply["ok"]:
            raise IntegrationError("FC.Unknown", reply["message"])
        return reply["result"]

    def _invoke_http(self, spec: FunctionSpec, event: Any, request_id: str, timeout: float) -> Any:
        try:
            response = httpx.post(spec.target, json=event, timeout=timeout,
                                  headers={"x-fc-request-id": request_id})
        except httpx.TimeoutException:
            raise IntegrationError("FC.FunctionTimeout", f"{spec.target} did not answer within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise IntegrationError("FC.Unknown", f"{spec.target}: {exc}") from None
        if response.status_code >= 400:
            raise IntegrationError("FC.Unknown", f"{spec.target} answered {response.status_code}: "
                                   f"{response.text[:2000]}")
        return _json_or_text(response.text)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill(self, key: str) -> bool:
        """Kill the invocation running under ``key`` (its whole process group), now or when it starts."""
        with self._lock:
            self._cancelled.add(key)
            proc = self._running.get(key)
        if proc is None:
            return False
        self._kill(proc)
        return True

    def running(self) -> int:
        with self._lock:
            return len(self._running)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()
