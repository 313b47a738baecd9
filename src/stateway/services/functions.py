"""The local function runtime (stands in for Function Compute).

A function is ``DIR/<name>.py`` with ``handler(event, context)`` (FC2 ARNs look in
``DIR/<service>/<name>.py`` first), or an entry under ``[functions.<name>]`` with ``url`` (HTTP
endpoint), ``command`` (event on stdin, result on stdout) or ``file``, and its settings
(``timeout``, ``reuse``, ``instance_concurrency``, ...; ``[functions]`` holds their defaults).
Entries come from the ``--config`` file and from ``DIR/stateway.toml``; a name in both takes the
``--config`` file's entry whole, and ``--config``'s defaults win key by key.

Python functions run in warm instances (``function_instances``); a command runs in a process of
its own per call, in a session (process group) of its own so that a cancel kills all of it.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import select
import selectors
import shutil
import signal
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from stateway.runtime._outcomes import IntegrationError
from stateway.services.function_instances import LOG_LIMIT, Capture, InstanceOptions, Instances, Throttled

log = logging.getLogger("stateway.functions")

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_DISPATCHES = 5
CAUSE_LIMIT = 4096  # a failure's Detail, as ReportTaskFailed's Cause
CRASH_STDERR = 2000  # characters of a crashed call's stderr kept in its error
_FC3 = re.compile(r"^acs:fc:[^:]*:[^:]*:functions/(?P<name>[^/]+)(?:/(?P<qualifier>[^/]+))?$")
_FC2 = re.compile(r"^acs:fc:[^:]*:[^:]*:services/(?P<service>[^./]+)(?:\.(?P<qualifier>[^/]+))?/functions/(?P<name>[^/]+)$")
# a command function's process dies with the engine (set in the child by util-linux, when present)
_DEATH_SIGNAL = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    kind: str  # "python", "http" or "command"
    target: str
    timeout: float
    options: InstanceOptions = field(default_factory=InstanceOptions)
    max_dispatches: int = DEFAULT_MAX_DISPATCHES


class FunctionCrashed(IntegrationError):
    """The call's instance ended without an answer (``os._exit``, a signal, the OOM killer)."""

    def __init__(self, name: str, exit: str, stderr: str) -> None:
        tail = stderr[-CRASH_STDERR:].strip()
        super().__init__("FC.FunctionCrashed", f"function {name!r} ended without a result: {exit}"
                         + (f"; stderr: {tail}" if tail else ""))
        self.exit = exit
        self.stderr = tail


def _options(settings: Mapping[str, Any]) -> InstanceOptions:
    defaults = InstanceOptions()
    environment = settings.get("environment") or {}
    return InstanceOptions(
        reuse=bool(settings.get("reuse", defaults.reuse)),
        concurrency=int(settings.get("instance_concurrency", defaults.concurrency)),
        max_instances=int(settings.get("max_instances", defaults.max_instances)),
        idle_seconds=float(settings.get("idle_seconds", defaults.idle_seconds)),
        memory_mb=int(settings.get("memory_mb", defaults.memory_mb)),
        initializer=settings.get("initializer") or None,
        max_waiting=int(settings.get("max_waiting", defaults.max_waiting)),
        environment=tuple(sorted((str(k), str(v)) for k, v in environment.items())))


class FunctionRuntime:
    def __init__(self, directory: str | Path | None = None, config: Mapping[str, Any] | None = None,
                 environment: dict[str, str] | None = None, defaults: Mapping[str, Any] | None = None) -> None:
        self.directory = Path(directory) if directory else None
        self.config: dict[str, Mapping[str, Any]] = {}
        self.defaults: dict[str, Any] = {}
        self._options: dict[str | None, tuple[dict[str, Any], InstanceOptions]] = {}
        self.config_error: str | None = None
        if self.directory is not None:
            self._read_directory_config(self.directory / "stateway.toml")
        given = {str(k): v for k, v in (config or {}).items() if isinstance(v, Mapping)}
        both = sorted(set(given) & set(self.config))
        if both:
            log.info("functions %s are configured in --config and in %s/stateway.toml: the --config entries win",
                     ", ".join(both), self.directory)
        self.config.update(given)
        self.defaults.update(defaults or {})
        self.environment = environment or {}
        self.instances = Instances(self.environment, on_cold_start=_count_cold_start)
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    def _read_directory_config(self, path: Path) -> None:
        if not path.exists():
            return
        from stateway.settings import FunctionSettings, SettingsError

        try:
            section = tomllib.loads(path.read_text(encoding="utf-8")).get("functions", {})
            defaults, entries = FunctionSettings.parse_section(section if isinstance(section, Mapping) else {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, SettingsError) as exc:
            self.config_error = f"{path}: {exc}"
            log.warning("functions: %s", self.config_error)
            return
        self.defaults.update(defaults)
        self.config.update(entries)

    def resolve(self, arn: Any) -> FunctionSpec:
        if not isinstance(arn, str):
            raise IntegrationError("FnF.InvalidArgument", "FC:InvokeFunction needs a 'resourceArn' text parameter")
        m2, m3 = _FC2.match(arn), _FC3.match(arn)
        if not (m2 or m3):
            raise IntegrationError("FnF.InvalidArgument", f"not a function ARN: {arn!r} (expected "
                                   "acs:fc:{region}:{account}:functions/{name} or .../services/{svc}.{q}/functions/{name})")
        if self.config_error:
            raise IntegrationError("FnF.InvalidArgument", self.config_error)
        name = (m2 or m3).group("name")  # type: ignore[union-attr]
        candidates: list[Path] = []
        if self.directory is not None:
            if m2:
                candidates.append(self.directory / m2.group("service") / f"{name}.py")
            candidates.append(self.directory / f"{name}.py")
        entry = self.config.get(name)
        settings = {**self.defaults, **(entry or {})}
        timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        # built once per configured function (and once for all others, which share the defaults): every
        # call asks, and a flow may name any number of functions, so unconfigured names are no key
        slot = name if entry is not None else None
        known = self._options.get(slot)
        if known is None or known[0] != settings:
            known = self._options[slot] = (settings, _options(settings))
        extra = {"options": known[1],
                 "max_dispatches": int(settings.get("max_dispatches", DEFAULT_MAX_DISPATCHES))}
        if entry is not None:
            if "url" in entry:
                return FunctionSpec(name, "http", str(entry["url"]), timeout, **extra)
            if "command" in entry:
                return FunctionSpec(name, "command", str(entry["command"]), timeout, **extra)
            if "file" in entry:
                return FunctionSpec(name, "python", str(Path(self.directory or ".") / entry["file"]), timeout, **extra)
        for path in candidates:
            if path.is_file():
                return FunctionSpec(name, "python", str(path), timeout, **extra)
        where = f" in {self.directory}" if self.directory else " (no --functions directory was given)"
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise IntegrationError("FC.FunctionNotFound", f"function {name!r} not found{where}{hint}")

    def names(self) -> list[str]:
        """Every function name this runtime knows: configured ones and ``*.py`` files (also one level down)."""
        found = set(self.config)
        if self.directory is not None and self.directory.is_dir():
            for path in [*self.directory.glob("*.py"), *self.directory.glob("*/*.py")]:
                if not path.name.startswith("_"):
                    found.add(path.stem)
        return sorted(found)

    def invoke(self, spec: FunctionSpec, event: Any, request_id: str, key: str,
               timeout: float | None = None, on_logs: Callable[[str, str], None] | None = None,
               info: dict[str, Any] | None = None, traceparent: str | None = None) -> Any:
        """Run the function to completion; its return value, or IntegrationError (``FunctionCrashed``
        when its instance ended without an answer).

        ``on_logs(stdout, stderr)`` receives what the invocation printed (each bounded to
        LOG_LIMIT bytes, the end kept), whatever the outcome, before this returns or raises.
        ``info`` (a dict) is given ``coldStart`` and ``instance`` for a Python function."""
        limit = min(timeout, spec.timeout) if timeout else spec.timeout
        if spec.kind == "http":
            return self._invoke_http(spec, event, request_id, limit, traceparent)
        if spec.kind == "command":
            return self._invoke_command(spec, event, request_id, key, limit, on_logs, traceparent)
        context = {"request_id": request_id, "function_name": spec.name, "requestId": request_id,
                   "function": {"name": spec.name}}
        if traceparent:  # the task attempt's span (docs/telemetry.md): the function continues the trace
            context["traceparent"] = traceparent
        with self._lock:
            if key in self._cancelled:
                self._cancelled.discard(key)
                raise IntegrationError("FnF.TaskCancelled", "the invocation was cancelled before it started")
        try:
            result = self.instances.call(spec.name, spec.target, spec.options, {"event": event, "context": context},
                                         key, limit, cancelled=self._is_cancelled)
        except Throttled as exc:
            raise IntegrationError("FC.ResourceThrottled", str(exc)) from None
        finally:
            with self._lock:
                cancelled = key in self._cancelled
                self._cancelled.discard(key)
        if info is not None:
            info.update(coldStart=result.cold, instance=result.instance)
        if on_logs is not None:
            on_logs(result.stdout, result.stderr)
        if cancelled or result.cancelled:
            raise IntegrationError("FnF.TaskCancelled", f"function {spec.name!r} was killed by a cancel")
        if result.timed_out:
            raise IntegrationError("FC.FunctionTimeout", f"function {spec.name!r} ran past its timeout of {limit:g}s")
        reply = result.reply
        if reply is None:
            raise FunctionCrashed(spec.name, result.exit, result.stderr)
        if not reply["ok"]:
            detail = _bounded(f"{reply['type']}: {reply['message']}", reply.get("trace", ""))
            raise IntegrationError(reply.get("error") or "FC.Unknown", detail,
                                   aliases=tuple(reply.get("classes") or (reply["type"],)))
        return reply["result"]

    def _is_cancelled(self, key: str) -> bool:
        with self._lock:
            return key in self._cancelled

    def _invoke_command(self, spec: FunctionSpec, event: Any, request_id: str, key: str, limit: float,
                        on_logs: Callable[[str, str], None] | None, traceparent: str | None = None) -> Any:
        env = {**os.environ, **self.environment, **dict(spec.options.environment),
               "STATEWAY_REQUEST_ID": request_id, "STATEWAY_FUNCTION_NAME": spec.name}
        if traceparent:
            env["TRACEPARENT"] = traceparent
        with self._lock:
            if key in self._cancelled:
                self._cancelled.discard(key)
                raise IntegrationError("FnF.TaskCancelled", "the invocation was cancelled before it started")
            # no preexec_fn: CPython then spawns with vfork, and never forks the engine under its GIL
            proc = subprocess.Popen([*_DEATH_SIGNAL, "/bin/sh", "-c", spec.target], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
            self._running[key] = proc
        out, err = Capture(None), Capture(LOG_LIMIT)
        streams = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}  # type: ignore[union-attr]
        try:
            finished = _exchange(proc, json.dumps(event).encode(), streams, time.monotonic() + limit)
            if not finished:
                self._kill(proc)
                _exchange(proc, b"", streams, time.monotonic() + 2)
            proc.wait()
        finally:
            for fd in (proc.stdout, proc.stderr, proc.stdin):
                if fd is not None:
                    fd.close()
            with self._lock:
                self._running.pop(key, None)
                cancelled = key in self._cancelled
                self._cancelled.discard(key)
            if on_logs is not None:
                on_logs("", err.text())
        if cancelled:
            raise IntegrationError("FnF.TaskCancelled", f"function {spec.name!r} was killed by a cancel")
        if not finished:
            raise IntegrationError("FC.FunctionTimeout", f"function {spec.name!r} ran past its timeout of {limit:g}s")
        text = out.text()
        if proc.returncode != 0:
            raise _chosen_error(text) or IntegrationError(
                "FC.Unknown", (err.text().strip() or f"command exited with {proc.returncode}")[-CAUSE_LIMIT:])
        return _json_or_text(text)

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
        """Kill the invocation running under ``key`` (its whole process group: for a Python function,
        its instance), now or when it starts."""
        with self._lock:
            self._cancelled.add(key)
            proc = self._running.get(key)
        if proc is None:
            return self.instances.kill(key)
        self._kill(proc)
        return True

    def running(self) -> int:
        """Calls running now."""
        with self._lock:
            commands = len(self._running)
        return commands + self.instances.running()

    def close(self) -> None:
        """Stop the idle instances now and the busy ones when their call ends (with whatever they started)."""
        self.instances.close()


def _count_cold_start(name: str) -> None:
    from stateway.runtime import _metrics as metrics

    metrics.FUNCTION_COLD_STARTS.labels(name).inc()


def _exchange(proc: subprocess.Popen[bytes], data: bytes, streams: dict[int, Capture], deadline: float) -> bool:
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
