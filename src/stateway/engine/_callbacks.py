"""Heartbeats and correlation keys of callback tasks (Stateway's, beyond CloudFlow).

A task with ``HeartbeatSeconds`` gets a heartbeat timer beside its Timeout timer. Its id names the
task and the window (``hb:<task>:<seconds>``), so that a heartbeat is one UPDATE of that timer's
row in the store, pushing its due time on, and the deadline lives where every timer lives: it
survives a restart and fires on whichever worker claims the execution. When it fires the task
fails with ``FnF.HeartbeatTimeout``, which Retry and Catch match (and ``FnF.ALL``).

``CorrelationKey.$`` is evaluated here with the task's other fields; the runtime claims it when it
dispatches the task (it must be unique among the flow's open tasks, which only the store knows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stateway.engine._errors import INVALID_ARGUMENT, StateFailure
from stateway.engine.messages import TimerFired
from stateway.expr import EvaluationError
from stateway.jsontext import dumps

if TYPE_CHECKING:
    from stateway.engine._run import Run
    from stateway.fdl import State

HEARTBEAT_TIMEOUT = "FnF.HeartbeatTimeout"
DUPLICATE_CORRELATION_KEY = "FnF.DuplicateCorrelationKey"
HEARTBEAT_PREFIX = "hb:"
MAX_KEY_LENGTH = 256


def heartbeat_timer_id(task_id: str, seconds: float) -> str:
    return f"{HEARTBEAT_PREFIX}{task_id}:{seconds:g}"


def prepare(run: Run, frame: dict[str, Any], state: State, current: dict[str, Any] | None,
            env: Any) -> tuple[Any, float | None, str | None]:
    """HeartbeatSeconds and CorrelationKey of a task about to be scheduled, and the environment its
    Parameters are built in (``$Context.Current.HeartbeatSeconds`` / ``.CorrelationKey`` added)."""
    seconds = state.heartbeat_seconds
    key = None
    if state.heartbeat_expr is not None:
        try:
            value = state.heartbeat_expr.evaluate(env)
        except EvaluationError as exc:
            raise StateFailure(INVALID_ARGUMENT, f"HeartbeatSeconds.$: {exc.message}") from None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 1 <= value <= 604800:
            raise StateFailure(INVALID_ARGUMENT, f"HeartbeatSeconds.$ gave {dumps(value)}, not 1–604800 seconds")
        seconds = float(value)
    if state.correlation_expr is not None:
        try:
            value = state.correlation_expr.evaluate(env)
        except EvaluationError as exc:
            raise StateFailure(INVALID_ARGUMENT, f"CorrelationKey.$: {exc.message}") from None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
            raise StateFailure(INVALID_ARGUMENT, f"CorrelationKey.$ gave {dumps(value)}, not a text or a number")
        key = value if isinstance(value, str) else dumps(value)
        if len(key) > MAX_KEY_LENGTH:
            raise StateFailure(INVALID_ARGUMENT, f"CorrelationKey.$ gave a key of {len(key)} characters; at most "
                               f"{MAX_KEY_LENGTH}")
    if seconds is None and key is None:
        return env, None, None
    extra = dict(current or {})
    if seconds is not None:
        extra["HeartbeatSeconds"] = int(seconds) if float(seconds).is_integer() else seconds
    if key is not None:
        extra["CorrelationKey"] = key
    return run.env(frame, frame["input"], current=extra), seconds, key


def check_window(seconds: float | None, timeout: float | None) -> None:
    if seconds is not None and timeout and seconds > timeout:
        raise StateFailure(INVALID_ARGUMENT, f"HeartbeatSeconds ({seconds:g}) is longer than the task's Timeout "
                           f"({timeout:g})")


def start(run: Run, frame: dict[str, Any], task_id: str, seconds: float | None) -> None:
    if seconds is None:
        return
    timer_id = heartbeat_timer_id(task_id, seconds)
    run.state["timers"][timer_id] = {"owner": frame["id"], "purpose": "heartbeat", "task": task_id,
                                     "seconds": seconds}
    run.decision.timers.append({"timer": timer_id, "due": run.now + seconds, "event": TimerFired(timer_id).to_wire()})
    frame["heartbeat_timer"] = timer_id


def stop(run: Run, frame: dict[str, Any]) -> None:
    timer_id = frame.pop("heartbeat_timer", None)
    if timer_id:
        run.drop_timer(timer_id)


def fired(run: Run, frame: dict[str, Any], timer: dict[str, Any]) -> None:
    """No heartbeat within the window: the task fails (and is cancelled at its integration)."""
    task_id = timer["task"]
    frame.pop("heartbeat_timer", None)
    if frame.get("task") != task_id:
        return
    state = run.state_of(frame)
    cause = f"no heartbeat within HeartbeatSeconds ({timer['seconds']:g}s)"
    run.close_task(frame, cancel=True, reason="task missed its heartbeat")
    run.history("TaskTimedOut", run._exit_name(frame, state), {"error": HEARTBEAT_TIMEOUT, "cause": cause},
                schedule=int(task_id))
    run.fail_state(frame, HEARTBEAT_TIMEOUT, cause)
