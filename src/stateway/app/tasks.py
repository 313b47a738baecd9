"""Tasks waiting for a result: answering them (ReportTaskSucceeded/Failed) and listing them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stateway.app._heartbeats import HeartbeatBatcher
from stateway.app.errors import CorrelationKeyNotExists
from stateway.runtime import InvalidArgument, Runtime, TaskAlreadyCompleted, TaskRef

CUSTOM_CALLBACK = "WaitForCustomCallback"
HEARTBEAT_TOKEN_CACHE = 20_000


@dataclass(frozen=True)
class OpenTask:
    flow_name: str
    execution_name: str
    execution_id: int
    step: str
    task_id: str
    action: str
    mode: str
    opened: float
    timeout_seconds: float | None  # the task's Timeout, if it has one
    token: str  # to report its result; only for WaitForCustomCallback (else the system answers)
    key: str = ""  # its correlation key (CorrelationKey.$), if it has one

    @property
    def timeout_at(self) -> float | None:
        return self.opened + self.timeout_seconds if self.timeout_seconds else None


def check_token(token: str) -> str:
    if not isinstance(token, str) or not token:
        raise InvalidArgument("the task token is empty")
    if not token.isascii() or not token.isprintable():  # tokens this server mints are URL-safe ASCII
        raise InvalidArgument("the task token does not verify: it is not a Stateway task token")
    return token


class Tasks:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.heartbeats = HeartbeatBatcher(runtime.store)
        # a storm repeats the same tokens every few seconds: their signatures are checked once
        self._verified = functools.lru_cache(maxsize=HEARTBEAT_TOKEN_CACHE)(runtime.verify_token)

    def succeed(self, token: str, output: Any) -> int:
        """Complete the task with ``output`` (a JSON object); the event id. ``TaskAlreadyCompleted``
        when it was answered (or timed out, or was cancelled) before."""
        return self.runtime.report_success(check_token(token), output)

    def fail(self, token: str, error: str, cause: str = "") -> int:
        """Fail the task with ``error`` (1 to 128 characters), which Retry and Catch match."""
        return self.runtime.report_failure(check_token(token), error, cause)

    def heartbeat(self, token: str) -> float:
        """The task is alive: its HeartbeatSeconds window starts again. The window (0: the task has
        none); ``TaskAlreadyCompleted`` when the task is not open any more."""
        ref = self._verified(check_token(token))
        window = self.heartbeats.beat(ref.execution_id, ref.task_id)
        if window is None:
            raise TaskAlreadyCompleted(f"the task {ref.task_id} of execution {ref.execution_name!r} is already "
                                       "completed")
        return window

    def token_for_key(self, flow_name: str, key: str) -> str:
        """The token of ``flow_name``'s open task holding correlation key ``key``."""
        if not isinstance(key, str) or not key:
            raise InvalidArgument("CorrelationKey is empty")
        if not flow_name:
            raise InvalidArgument("a report by CorrelationKey needs FlowName")
        self.store.get_flow(flow_name)
        found = self.store.task_by_key(flow_name, key)
        if found is None:
            raise CorrelationKeyNotExists(f"no task of flow {flow_name!r} has the correlation key {key!r}")
        execution_id, execution_name, task_id, still_open = found
        if not still_open:
            raise TaskAlreadyCompleted(f"the task with correlation key {key!r} (task {task_id} of execution "
                                       f"{execution_name!r}) is already completed")
        return self.runtime.signer.mint(TaskRef(flow_name, execution_id, execution_name, task_id))

    def key_of(self, token: str) -> str:
        ref = self.runtime.verify_token(check_token(token))
        return self.store.task_keys_of([ref.execution_id]).get((ref.execution_id, ref.task_id), "")

    def list_open(self, flow_name: str | None = None, execution_name: str | None = None, mode: str | None = None,
                  *, offset: int = 0, limit: int = 100, visible: Callable[[str], bool] | None = None
                  ) -> tuple[list[OpenTask], bool]:
        """Tasks of running executions waiting for their result, oldest first; and whether more follow.
        ``visible``: of the flows whose name it accepts only (an access policy's flows)."""
        if flow_name:
            self.store.get_flow(flow_name)
        tasks = [t for t in self.store.open_tasks_of(flow_name or None)
                 if execution_name in (None, "", t["execution_name"]) and mode in (None, "", t["mode"])
                 and (visible is None or visible(t["flow_name"]))]
        timeouts: dict[int, dict[str, float]] = {}
        page = []
        keys = self.store.task_keys_of(sorted({t["execution_id"] for t in tasks[offset:offset + limit]}))
        for t in tasks[offset:offset + limit]:
            if t["execution_id"] not in timeouts:
                timeouts[t["execution_id"]] = self._timeouts(t["execution_id"])
            page.append(OpenTask(
                flow_name=t["flow_name"], execution_name=t["execution_name"], execution_id=t["execution_id"],
                step=t["step"], task_id=t["task_id"], action=t["action"], mode=t["mode"], opened=t["opened"],
                timeout_seconds=timeouts[t["execution_id"]].get(t["task_id"]),
                token=t["token"] if t["mode"] == CUSTOM_CALLBACK else "",
                key=keys.get((t["execution_id"], t["task_id"]), "")))
        return page, len(tasks) > offset + limit

    def _timeouts(self, execution_id: int) -> dict[str, float]:
        """Task id → its Timeout in seconds: the timeout lives in the execution's timers."""
        state = self.store.get_execution(execution_id).state or {}
        return {str(v.get("task")): float(v.get("seconds") or 0) for v in (state.get("timers") or {}).values()
                if v.get("purpose") == "task_timeout"}
