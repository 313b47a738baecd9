"""The local function runtime (stands in for Function Compute).

A function is ``DIR/<name>.py`` with ``handler(event, context)`` (FC2 ARNs look in
``DIR/<service>/<name>.py`` first), or an entry in ``stateway.toml`` under ``[functions.<name>]``
with ``url`` (HTTP endpoint) or ``command`` (event on stdin, result on stdout), and ``timeout``.
Every invocation runs in a process group of its own so that a cancel kills all of it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import select
import selectors
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from stateway.runtime._outcomes import IntegrationError

DEFAULT_TIMEOUT = 60.0
LOG_LIMIT = 64 * 1024  # bytes of stdout and of stderr kept per invocation (the end)
CAUSE_LIMIT = 4096  # a failure's Detail, as ReportTaskFailed's Cause
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
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise IntegrationError("FC.FunctionNotFound", f"function {name!r} not found{where}{hint}")

    def names(self) -> list[str]:
        """Every function name this runtime knows: configured ones and ``*.py`` files (also one level down)."""
        found = {str(k) for k, v in self.config.items() if isinstance(v, dict)}
        if self.directory is not None and self.directory.is_dir():
            for path in [*self.directory.glob("*.py"), *self.directory.glob("*/*.py")]:
                if not path.name.startswith("_"):
                    found.add(path.stem)
        return sorted(found)

    def invoke(self, spec: FunctionSpec, event: Any, request_id: str, key: str,
               timeout: float | None = None, on_logs: Callable[[str, str], None] | None = None,
               traceparent: str | None = None) -> Any:
        """Run the function to completion; its return value, or IntegrationError.

        ``on_logs(stdout, stderr)`` receives what the invocation printed (each bounded to
        LOG_LIMIT bytes, the end kept), whatever the outcome, before this returns or raises."""
        limit = min(timeout, spec.timeout) if timeout else spec.timeout
        if spec.kind == "http":
            return self._invoke_http(spec, event, request_id, limit, traceparent)
        context = {"request_id": request_id, "function_name": spec.name, "requestId": request_id,
                   "function": {"name": spec.name}}
        env = {**os.environ, **self.environment, "STATEWAY_REQUEST_ID": request_id,
               "STATEWAY_FUNCTION_NAME": spec.name}
        if traceparent:  # the task attempt's span (docs/telemetry.md): the function continues the trace
            env["TRACEPARENT"] = context["traceparent"] = traceparent
        result_r = result_w = -1
        if spec.kind == "python":
            argv = [sys.executable, "-m", "stateway.services.function_host"]
            stdin = json.dumps({"file": spec.target, "event": event, "context": context})
            result_r, result_w = os.pipe()
            env["STATEWAY_RESULT_FD"] = str(result_w)
        else:
            argv = ["/bin/sh", "-c", spec.target]
            stdin = json.dumps(event)
        with self._lock:
            if key in self._cancelled:
                self._cancelled.discard(key)
                for fd in (result_r, result_w):
                    if fd >= 0:
                        os.close(fd)
                raise IntegrationError("FnF.TaskCancelled", "the invocation was cancelled before it started")
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env=env, preexec_fn=_set_death_signal,
                                        pass_fds=(result_w,) if result_w >= 0 else ())
            finally:
                if result_w >= 0:
                    os.close(result_w)
            self._running[key] = proc
        python = spec.kind == "python"
        out = _Capture(LOG_LIMIT if python else None)
        err = _Capture(LOG_LIMIT)
        result = _Capture(None)
        streams = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}  # type: ignore[union-attr]
        if python:
            streams[result_r] = result
        try:
            finished = _exchange(proc, stdin.encode(), streams, time.monotonic() + limit)
            if not finished:
                self._kill(proc)
                _exchange(proc, b"", streams, time.monotonic() + 2)
            proc.wait()
        finally:
            for fd in (proc.stdout, proc.stderr, proc.stdin):
                if fd is not None:
                    fd.close()
            if python:
                os.close(result_r)
            with self._lock:
                self._running.pop(key, None)
                cancelled = key in self._cancelled
                self._cancelled.discard(key)
            if on_logs is not None:
                on_logs(out.text() if python else "", err.text())
        if cancelled:
            raise IntegrationError("FnF.TaskCancelled", f"function {spec.name!r} was killed by a cancel")
        if not finished:
            raise IntegrationError("FC.FunctionTimeout", f"function {spec.name!r} ran past its timeout of {limit:g}s")
        if spec.kind == "command":
            text = out.text()
            if proc.returncode != 0:
                raise _chosen_error(text) or IntegrationError(
                    "FC.Unknown", (err.text().strip() or f"command exited with {proc.returncode}")[-CAUSE_LIMIT:])
            return _json_or_text(text)
        lines = result.text().strip().splitlines()
        if not lines:
            raise IntegrationError("FC.Unknown", f"function {spec.name!r} exited with {proc.returncode} and no "
                                   f"result: {err.text()[-2000:]}")
        reply = json.loads(lines[-1])
        if not reply["ok"]:
            detail = _bounded(f"{reply['type']}: {reply['message']}", reply.get("trace", ""))
            raise IntegrationError(reply.get("error") or "FC.Unknown", detail,
                                   aliases=tuple(reply.get("classes") or (reply["type"],)))
        return reply["result"]

    def _invoke_http(self, spec: FunctionSpec, event: Any, request_id: str, timeout: float,
                     traceparent: str | None = None) -> Any:
        headers = {"x-fc-request-id": request_id, **({"traceparent": traceparent} if traceparent else {})}
        try:
            response = httpx.post(spec.target, json=event, timeout=timeout, headers=headers)
        except httpx.TimeoutException:
            raise IntegrationError("FC.FunctionTimeout", f"{spec.target} did not answer within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise IntegrationError("FC.Unknown", f"{spec.target}: {exc}") from None
        if response.status_code >= 400:
            raise _chosen_error(response.text) or IntegrationError(
                "FC.Unknown", f"{spec.target} answered {response.status_code}: {response.text[:2000]}")
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


class _Capture:
    """Bytes read from one pipe; with a limit, only the last ``limit`` bytes are kept."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if self.limit is not None and len(self.data) > self.limit:
            cut = len(self.data) - self.limit
            del self.data[:cut]
            self.dropped += cut

    def text(self) -> str:
        body = self.data.decode(errors="replace")
        return f"[... {self.dropped} bytes cut ...]\n{body}" if self.dropped else body


def _exchange(proc: subprocess.Popen[bytes], data: bytes, streams: dict[int, _Capture], deadline: float) -> bool:
    """Write ``data`` to the process's stdin and read its pipes until they close, without any of
    them blocking the others (a function printing a lot must not stall its result). False when
    the deadline passed first."""
    with selectors.DefaultSelector() as selector:
        if proc.stdin is not None and not proc.stdin.closed:
            if data:
                os.set_blocking(proc.stdin.fileno(), False)
                selector.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        view, offset = memoryview(data), 0
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in selector.select(remaining):
                fd = key.fd
                if fd in streams:
                    chunk = os.read(fd, 65536)
                    if chunk:
                        streams[fd].add(chunk)
                    else:
                        selector.unregister(fd)
                    continue
                try:
                    offset += os.write(fd, view[offset:offset + select.PIPE_BUF])
                except BrokenPipeError:
                    offset = len(data)
                if offset >= len(data):
                    selector.unregister(fd)
                    proc.stdin.close()  # type: ignore[union-attr]
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return True


def _bounded(head: str, trace: str) -> str:
    """A failure's Detail: ``Type: message`` first, then as much of the traceback's end as fits."""
    head = head[:CAUSE_LIMIT // 2]
    room = CAUSE_LIMIT - len(head) - 1
    if not trace:
        return head
    return f"{head}\n{trace[-room:] if len(trace) > room else trace}".rstrip()


def _chosen_error(text: str) -> IntegrationError | None:
    """FC's error shape, ``{"errorType": ..., "errorMessage": ...}``, printed by a failing command
    function or answered (status >= 400) by an HTTP function: fail with that error name."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("errorType"), str) or not value["errorType"]:
        return None
    message = value.get("errorMessage")
    return IntegrationError(value["errorType"][:128], str(message if message is not None else "")[:CAUSE_LIMIT])


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()
