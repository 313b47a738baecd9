"""FC:InvokeFunction against the local function runtime. Async invocations are rows in the store,
run by a small worker pool, so they survive a restart."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from stateway.runtime._context import IntegrationContext
from stateway.runtime._outcomes import Completed, Failed, IntegrationError, Outcome, Submitted, TaskCall
from stateway.runtime._registry import Integration
from stateway.services.functions import FunctionRuntime
from stateway.store import StoreUnavailable
from stateway.telemetry import traceparent_for

HISTORY_TAIL = 1024  # characters of stdout and of stderr copied into the task's history event


def _tail(text: str) -> str:
    return text if len(text) <= HISTORY_TAIL else "..." + text[-HISTORY_TAIL:]


_NAMESPACE = uuid.UUID("5f0c7a52-3f0e-4b8e-9d52-6a1f3f0d2a11")


class InvokeFunction(Integration):
    action = "FC:InvokeFunction"
    modes = frozenset({"RequestComplete", "WaitForSystemCallback", "WaitForCustomCallback"})
    parameters = frozenset({"resourceArn", "invocationType", "body"})

    def __init__(self, context: IntegrationContext) -> None:
        super().__init__(context)
        functions = context.settings.functions  # complete (its environment too) before anything is built
        self.functions = FunctionRuntime(functions.directory, dict(functions.entries), environment=dict(functions.env))
        self.workers = functions.async_workers
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._work = threading.Condition()

    # -- async worker pool ------------------------------------------------------------------
    def start(self) -> None:
        self.context.invocations.requeue_running_invocations()
        if self.context.shared:  # another process's enqueue wakes us (NOTIFY), so poll rarely
            self.context.subscribe(self._on_notice)
            self._idle_wait = self.context.lease / 4  # and a dead worker's invocations are found soon
        for i in range(self.workers):
            thread = threading.Thread(target=self._worker, name=f"stateway-fc-async-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    _idle_wait = 0.5

    def _on_notice(self, topic: str) -> None:
        if topic == "invocation":
            with self._work:
                self._work.notify()

    def close(self) -> None:
        self._stop.set()
        with self._work:
            self._work.notify_all()

    def _worker(self) -> None:
        store = self.context.invocations
        while not self._stop.is_set():
            try:
                job = store.claim_invocation(self.context.owner, time.time(), self.context.lease)
                if job is None:
                    with self._work:
                        self._work.wait(timeout=self._idle_wait)
                    continue
                self._run_async(job)
            except StoreUnavailable:  # the database is away: wait, then go on
                self._stop.wait(1.0)
            except Exception:  # the store closed under us at shutdown; the row is requeued at restart
                if self._stop.is_set():
                    return
                raise

    def _run_async(self, job: dict[str, Any]) -> None:
        store = self.context.invocations
        logs: list[dict[str, Any]] = []
        on_logs = self._log_keeper(job["execution_id"], job["task_id"], logs) if job["execution_id"] else None
        try:
            spec = self.functions.resolve(job["function"])
            result = self.functions.invoke(spec, job["event"], job["id"], job["id"], on_logs=on_logs,
                                           traceparent=traceparent_for(job["execution_id"], job["task_id"])
                                           if job["execution_id"] else None)
            finish: tuple[Any, ...] = ("Succeeded", result, None, None)
            outcome: Completed | Failed = Completed({"Body": result})
            aliases: tuple[str, ...] = ()
        except IntegrationError as exc:
            finish = ("Failed", None, exc.error, exc.cause)
            outcome, aliases = Failed(exc.error, exc.cause), exc.aliases
        extra = {"logs": logs[0]} if logs else {}
        # the function ran: record it even if the database is away for a while (we hold the claim)
        self._until_stored(lambda: store.finish_invocation(job["id"], *finish))
        if job["execution_id"] is None or (isinstance(outcome, Completed) and not job["notify"]):
            return
        if isinstance(outcome, Failed) and outcome.error == "FnF.TaskCancelled":
            return
        self._until_stored(lambda: self.context.complete_task(job["execution_id"], job["task_id"], outcome,
                                                              aliases=aliases, extra=extra))

    def _until_stored(self, write: Any) -> None:
        delay = 0.2
        while True:
            try:
                write()
                return
            except StoreUnavailable:
                if self._stop.wait(delay):
                    raise
                delay = min(delay * 2, 5.0)

    # -- the integration ----------------------------------------------------------------------
    def invocation_id(self, call: TaskCall) -> str:
        return str(uuid.uuid5(_NAMESPACE, call.key))

    def invoke(self, call: TaskCall) -> Outcome:
        params = call.parameters
        arn = params.get("resourceArn")
        invocation_type = str(params.get("invocationType", "Sync")).capitalize()
        if invocation_type not in ("Sync", "Async"):
            raise IntegrationError("FnF.InvalidArgument", f"invocationType must be Sync or Async, got "
                                   f"{params.get('invocationType')!r}")
        spec = self.functions.resolve(arn)  # FC.FunctionNotFound before anything is queued
        body = params.get("body", {})
        if invocation_type == "Async":
            invocation = self.invocation_id(call)
            notify = call.mode == "WaitForSystemCallback"
            self.context.invocations.enqueue_invocation(invocation, str(arn), body, time.time(), call.execution_id,
                                                  call.task_id, notify)
            with self._work:
                self._work.notify()
            if call.mode == "RequestComplete":
                return Completed({"RequestId": invocation})
            return Submitted({"RequestId": invocation})
        logs: list[dict[str, Any]] = []
        try:
            result = self.functions.invoke(spec, body, self.invocation_id(call), call.key, call.timeout,
                                           on_logs=self._log_keeper(call.execution_id, call.task_id, logs),
                                           traceparent=traceparent_for(call.execution_id, call.task_id))
        except IntegrationError as exc:
            exc.logs = logs[0] if logs else None
            raise
        if call.mode == "WaitForCustomCallback":
            return Submitted({"Body": result}, logs=logs[0] if logs else None)
        return Completed({"Body": result}, logs=logs[0] if logs else None)

    def _log_keeper(self, execution_id: int, task_id: str, refs: list[dict[str, Any]]) -> Any:
        """Keeps what an invocation printed in the store; its history event gets the last lines
        and the sizes (``stateway exec logs`` shows all of it)."""

        def keep(stdout: str, stderr: str) -> None:
            if not (stdout or stderr):
                return
            self.context.executions.put_task_log(execution_id, task_id, stdout, stderr, time.time())
            refs.append({"stdout": _tail(stdout), "stderr": _tail(stderr),
                         "stdoutBytes": len(stdout.encode()), "stderrBytes": len(stderr.encode())})

        return keep

    def cancel(self, call: TaskCall, reason: str) -> str:
        invocation = self.invocation_id(call)
        before = self.context.invocations.cancel_invocation(invocation)
        killed = self.functions.kill(call.key) or self.functions.kill(invocation)
        if killed:
            return "killed the running function"
        if before == "Queued":
            return "withdrew the queued invocation"
        return "the function was no longer running"
