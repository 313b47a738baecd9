"""FC:InvokeFunction against the local function runtime. Async invocations are rows in the store,
run by a small worker pool, so they survive a restart.

Poison calls: a dispatch that gave no result (its instance crashed, or the worker running it died
and another took the task over) is counted in the store; once ``max_dispatches`` were lost, the
call is not run again and its task fails ``FC.FunctionCrashed`` with the last exit and stderr.

A worker's death cannot say which of its calls caused it, so a call taken over from a dead worker
(a suspect) is counted only for the dispatches it really ran: each of its runs is counted before it
starts, and a suspect lost twice waits for a lane of one on its worker. Two suspects never run side
by side there, so an innocent call dispatched together with a call that kills its worker is not
charged for that worker's deaths and does not reach ``max_dispatches``."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from typing import Any

from stateway.runtime._context import IntegrationContext
from stateway.runtime._outcomes import Completed, Failed, IntegrationError, Outcome, Submitted, TaskCall
from stateway.runtime._registry import Integration
from stateway.services.functions import FunctionCrashed, FunctionRuntime, FunctionSpec
from stateway.store import StoreUnavailable
from stateway.telemetry import traceparent_for

log = logging.getLogger("stateway.fc")
HISTORY_TAIL = 1024  # characters of stdout and of stderr copied into the task's history event
QUARANTINE_AFTER = 2  # dispatches a suspect lost before it runs alone on its worker


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
        self.functions = FunctionRuntime(functions.directory, dict(functions.entries), environment=dict(functions.env),
                                         defaults=dict(functions.defaults))
        self.workers = functions.async_workers
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._work = threading.Condition()
        self._quarantine = threading.Lock()  # the lane of one for suspects lost QUARANTINE_AFTER times

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
        self.functions.close()

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
            result, info = self._counted(spec, job["event"], job["id"], job["id"], None, job["execution_id"],
                                         job["task_id"], on_logs, int(job.get("dispatches") or 1) > 1,
                                         traceparent=traceparent_for(job["execution_id"], job["task_id"])
                                         if job["execution_id"] else None)
            if info.get("coldStart") and job["execution_id"]:
                logs[-1:] = [{**(logs[-1] if logs else {}), "coldStart": True}]
            finish: tuple[Any, ...] = ("Succeeded", result, None, None)
            outcome: Completed | Failed = Completed({"Body": result})
            aliases: tuple[str, ...] = ()
        except IntegrationError as exc:
            finish = ("Failed", None, exc.error, exc.cause)
            outcome, aliases = Failed(exc.error, exc.cause), exc.aliases
        extra = {"logs": logs[-1]} if logs else {}
        # the function ran: record it even if the database is away for a while (we hold the claim)
        self._until_stored(lambda: store.finish_invocation(job["id"], *finish))
        if job["execution_id"] is None or (isinstance(outcome, Completed) and not job["notify"]):
            return
        if isinstance(outcome, Failed) and outcome.error == "FnF.TaskCancelled":
            return
        self._until_stored(lambda: self.context.complete_task(job["execution_id"], job["task_id"], outcome,
                                                              aliases=aliases, extra=extra))

    def _until_stored(self, write: Any) -> Any:
        delay = 0.2
        while True:
            try:
                return write()
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
        info: dict[str, Any] = {}
        taken_over = getattr(self.context.invocations, "redispatched", None)  # a store without it: never
        again = taken_over is not None and taken_over.pop((call.execution_id, call.task_id), 1) > 1
        try:
            result, info = self._counted(spec, body, self.invocation_id(call), call.key, call.timeout,
                                         call.execution_id, call.task_id,
                                         self._log_keeper(call.execution_id, call.task_id, logs), again, info,
                                         traceparent=traceparent_for(call.execution_id, call.task_id))
        except IntegrationError as exc:
            exc.logs = _reference(logs, info)
            raise
        if call.mode == "WaitForCustomCallback":
            return Submitted({"Body": result}, logs=_reference(logs, info))
        return Completed({"Body": result}, logs=_reference(logs, info))

    def _counted(self, spec: FunctionSpec, event: Any, invocation: str, key: str, timeout: float | None,
                 execution_id: int | None, task_id: str | None, on_logs: Any, again: bool,
                 info: dict[str, Any] | None = None, traceparent: str | None = None) -> tuple[Any, dict[str, Any]]:
        """Invoke, counting the dispatches that give no result: ``again`` says this one follows a
        dispatch lost with its worker (a suspect). A crashed instance's call runs again on a fresh
        one until ``max_dispatches`` are lost."""
        store = self.context.invocations
        info = {} if info is None else info

        def note(exit: str = "", stderr: str = "", count: int = 1) -> dict[str, Any]:
            return self._until_stored(lambda: store.note_lost_dispatch(
                invocation, execution_id, task_id, spec.name, exit, stderr, time.time(), count=count))

        lane: Any = contextlib.nullcontext()
        if again:
            lost = self._until_stored(lambda: store.lost_dispatches(invocation))
            if not lost["lost"]:  # the first dispatch died with its worker: run or not, it counts
                lost = note()
            self._give_up_after(spec, invocation, lost)
            if lost["lost"] >= QUARANTINE_AFTER:
                lane = self._quarantine
        with lane:
            while True:
                if again:  # counted before it runs: if this worker dies too, the count is already there
                    note()
                try:
                    return self.functions.invoke(spec, event, invocation, key, timeout, on_logs=on_logs, info=info,
                                                 traceparent=traceparent), info
                except FunctionCrashed as crash:
                    lost = note(crash.exit, crash.stderr, count=0 if again else 1)
                    log.warning("function %s: call %s ended without a result (%s), dispatch %d of at most %d",
                                spec.name, invocation, crash.exit, lost["lost"], spec.max_dispatches)
                    self._give_up_after(spec, invocation, lost)

    def _give_up_after(self, spec: FunctionSpec, invocation: str, lost: dict[str, Any]) -> None:
        if lost["lost"] < spec.max_dispatches:
            return
        self._until_stored(lambda: self.context.invocations.give_up_dispatch(invocation))
        last = lost["last_exit"] or "its worker ended during the call"
        stderr = str(lost["last_stderr"] or "").strip()
        raise IntegrationError("FC.FunctionCrashed", (
            f"function {spec.name!r} was dispatched {lost['lost']} times without a result (max_dispatches = "
            f"{spec.max_dispatches}) and is not run again; last: {last}" + (f"; stderr: {stderr}" if stderr else "")
        )[:4096])

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


def _reference(logs: list[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any] | None:
    """The task's history reference: what the last attempt printed, and whether it started an instance."""
    ref = dict(logs[-1]) if logs else {}
    if info.get("coldStart"):
        ref["coldStart"] = True
    return ref or None
