"""The dispatcher: outbox commands run on a thread pool (``_submit`` is the one way in), each
through its integration; what comes back goes to the store as an inbox event, and the outbox row
is deleted after that, so a crash in between re-dispatches it. A mixin of ``Runtime``."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor
from typing import Any

from stateway import telemetry
from stateway.engine import MAP_RUN_ACTION
from stateway.engine.messages import Cancel, CancelResult, Invoke, Report, TaskResult, TaskSubmitted, command_from_wire
from stateway.runtime._correlation import key_refused
from stateway.runtime._errors import InvalidArgument, TaskAlreadyCompleted
from stateway.runtime._held import HeldResult
from stateway.runtime._outcomes import (
    Completed,
    Failed,
    IntegrationError,
    SubmitFailed,
    Submitted,
    TaskCall,
    outcome_event,
)
from stateway.runtime._tokens import InvalidTaskToken

log = logging.getLogger("stateway.runtime")


class Dispatcher:
    """Needs from ``Runtime``: store, registry, _pool, _inflight, _inflight_lock, _dispatch_attempts,
    _stopping, notify, complete_task, report_success, report_failure."""

    # -- dispatch ----------------------------------------------------------------------------------
    def _submit(self, outbox_id: int, execution_id: int, command: dict[str, Any],
                names: tuple[str, str] | None = None) -> None:
        """``names``: (execution, flow) of a command this worker has just committed; its task is open
        and nothing needs to be read before it runs."""
        with self._inflight_lock:
            if outbox_id in self._inflight:
                return
            self._inflight.add(outbox_id)
        if self._own_pool and command.get("kind") == "report" and str(command.get("token")).startswith("maprun:"):
            # a distributed Map's child ended: its run records many such ends at once, on its own thread
            self.registry.get(MAP_RUN_ACTION).report_later(  # type: ignore[attr-defined]
                command, outbox_id, lambda: self._settled([outbox_id]), hold=self._gathering)
            return
        try:
            self._pool_for(command).submit(telemetry.scoped(execution_id, command.get("task"), self._dispatch),
                                           outbox_id, execution_id, command, names)
        except RuntimeError:  # pool shut down: the row stays and is dispatched after a restart
            pass

    # while the loop hands a committed batch's commands over: a Map Run's child ends are held, and
    # recorded together once the batch is handed over (record_map_ends), on the loop's own thread
    _gathering = False

    def record_map_ends(self) -> None:
        maprun = self.registry.instances.get(MAP_RUN_ACTION)
        if maprun is not None:
            maprun.record_held()  # type: ignore[attr-defined]

    def _pool_for(self, command: dict[str, Any]) -> Executor:
        """The shared dispatch pool, or the integration's own (a broker's: one that is down or slow
        then holds only its own threads, never those other integrations run on)."""
        if self._own_pool and command.get("kind") == "invoke":
            pool = self.registry.dispatch_pool(command.get("action"), command.get("parameters") or {})
            if pool is not None:
                return pool
        return self._pool

    def _dispatch(self, outbox_id: int, execution_id: int, command: dict[str, Any],
                  names: tuple[str, str] | None = None) -> None:
        try:
            message = command_from_wire(command)  # an unknown kind (a newer Stateway's) raises: retried, not lost
            if isinstance(message, Invoke):
                if self._invoke(execution_id, message, outbox_id, names):
                    return  # its result is held for the loop, whose commit deletes the outbox row
            elif isinstance(message, Cancel):
                self._cancel(execution_id, message, outbox_id)
            elif not self._report_end(message, outbox_id):
                self.store.outbox_done(outbox_id)
        except Exception as exc:
            log.exception("dispatch of %s failed", command.get("kind"))
            # we still hold the row's claim (renewed while we live): try again later, ourselves
            if self._retry_dispatch(outbox_id, execution_id, command, exc):
                return
        with self._inflight_lock:
            self._inflight.discard(outbox_id)
        self.notify()

    def _retry_dispatch(self, outbox_id: int, execution_id: int, command: dict[str, Any], exc: Exception) -> bool:
        attempt = self._dispatch_attempts.get(outbox_id, 0) + 1
        self._dispatch_attempts[outbox_id] = attempt
        if self._stopping:
            return False
        delay = min(0.5 * 2 ** attempt, 60.0)

        def again() -> None:
            if self._stopping:
                return
            try:
                self._pool_for(command).submit(self._dispatch, outbox_id, execution_id, command)
            except RuntimeError:
                pass

        timer = threading.Timer(delay, again)
        timer.daemon = True
        timer.start()
        return True

    def _settled(self, outbox_ids: list[int]) -> None:
        """Outbox rows whose results a commit consumed (or dropped): no longer in flight here."""
        if outbox_ids:
            with self._inflight_lock:
                self._inflight.difference_update(outbox_ids)

    def task_call(self, execution_id: int, command: Invoke | Cancel | dict[str, Any],
                  names: tuple[str, str] | None = None) -> TaskCall:
        if isinstance(command, dict):
            command = command_from_wire(command)  # type: ignore[assignment]
        if names is None:
            row = self.store.get_execution(execution_id)
            names = (row.name, row.flow_name)
        name, flow_name = names
        if isinstance(command, Invoke):
            return TaskCall(execution_id=execution_id, execution_name=name, flow_name=flow_name,
                            task_id=command.task, token=command.token, action=command.action, mode=command.mode,
                            parameters=command.parameters or {}, timeout=command.timeout, step=command.step)
        if isinstance(command, Cancel):
            return TaskCall(execution_id=execution_id, execution_name=name, flow_name=flow_name,
                            task_id=command.task, token="", action=command.action, mode=command.mode,
                            parameters={}, timeout=None, step=command.step)
        raise TypeError(f"a task call is made from an invoke or cancel command, not {command!r}")

    def _invoke(self, execution_id: int, command: Invoke, outbox_id: int, names: tuple[str, str] | None) -> bool:
        """Runs the task; True when its result was handed to the loop rather than written here."""
        call = self.task_call(execution_id, command, names)
        if names is None and not self.store.is_task_open(execution_id, call.task_id):
            self.store.outbox_done(outbox_id)
            return False  # closed (cancelled, timed out) before it was dispatched
        if command.key is not None and key_refused(self, execution_id, call, command.key):
            self.store.outbox_done(outbox_id)
            return False
        integration = self.registry.get(call.action)
        aliases: tuple[str, ...] = ()  # exception classes Retry/Catch may name
        logs: dict[str, Any] | None = None  # a reference to what the task printed
        try:
            outcome = integration.invoke(call)
        except IntegrationError as exc:
            outcome = SubmitFailed(exc.error, exc.cause) if call.mode != "RequestComplete" else Failed(exc.error,
                                                                                                      exc.cause)
            aliases, logs = tuple(exc.aliases), exc.logs
        except Exception as exc:
            log.exception("integration %s failed", call.action)
            outcome = Failed(f"{call.action.split(':')[0]}.InternalError", str(exc))
        if not isinstance(outcome, (Completed, Failed, Submitted, SubmitFailed)):
            outcome = Failed(f"{call.action.split(':')[0]}.InternalError",
                             f"the integration answered {outcome!r:.200}, not an outcome")
        event = outcome_event(call.task_id, outcome, aliases=aliases, logs=logs)
        if isinstance(event, (TaskResult, TaskSubmitted)) and self.batches_results:
            self.held.hold(execution_id, HeldResult(outbox_id, call.task_id, event.to_wire(),
                                                    gate=isinstance(event, TaskResult)))
            self.notify()
            return True
        if isinstance(event, TaskResult):
            self.complete_task(execution_id, call.task_id, event)
            self.store.outbox_done(outbox_id)
        else:
            self.store.add_event(execution_id, event.to_wire(), outbox_done=outbox_id)
        return False

    def _cancel(self, execution_id: int, command: Cancel, outbox_id: int) -> None:
        call = self.task_call(execution_id, command)
        integration = self.registry.get(call.action)
        try:
            detail = integration.cancel(call, command.reason)
            event = CancelResult(call.task_id, True, detail or "", call.step)
        except Exception as exc:
            event = CancelResult(call.task_id, False, str(exc), call.step)
        self.store.add_event(execution_id, event.to_wire(), outbox_done=outbox_id)

    def _report_end(self, command: Report, outbox_id: int | None = None) -> bool:
        """True when the outbox row was deleted with what the report changed."""
        scheme, _, rest = command.token.partition(":")
        if scheme == "maprun":  # a distributed Map's child: its run, not a task, hears of its end
            return bool(self.registry.get(MAP_RUN_ACTION).child_ended(  # type: ignore[attr-defined]
                rest, command.to_wire(), outbox_id))
        try:
            if command.status == "Succeeded":
                self.report_success(command.token, command.output)
            else:
                error = command.error or f"FnF.Execution{command.status}"
                self.report_failure(command.token, error, command.cause or "")
        except (InvalidTaskToken, TaskAlreadyCompleted, InvalidArgument) as exc:
            log.info("callback token of an ended execution not reported: %s", exc)
        return False
