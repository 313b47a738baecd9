"""The timers of a run (an execution's timeout, a Wait, a retry's pause, a task's timeout and
heartbeat) and the Wait state that sets one. A part of the interpreter's ``_Run``."""

from __future__ import annotations

from typing import Any

from stateway.engine import _callbacks as callbacks
from stateway.engine import _v1 as v1
from stateway.engine import _wait_until as wait_until
from stateway.engine._errors import INVALID_ARGUMENT, TIMEOUT, StateFailure
from stateway.engine.messages import TimerFired
from stateway.engine.state import Frame
from stateway.expr import EvaluationError
from stateway.fdl import State
from stateway.jsontext import dumps as _dumps


class TimerSteps:
    """Mixed into ``_Run`` (``_interpreter.py``): ``self`` is the run."""

    # -- timers ----------------------------------------------------------------------------------
    def add_timer(self, owner: str, payload: dict[str, Any], delay: float) -> str:
        timer_id = f"t{self.state['event_id']}-{owner}-{len(self.state['timers'])}"
        self.state["timers"][timer_id] = {"owner": owner, **payload}
        self.decision.timers.append({"timer": timer_id, "due": self.now + max(0.0, delay),
                                     "event": TimerFired(timer_id).to_wire()})
        return timer_id

    def drop_timer(self, timer_id: str | None) -> None:
        if timer_id and self.state["timers"].pop(timer_id, None) is not None:
            self.decision.cancelled_timers.append(timer_id)

    def on_timer(self, event: TimerFired) -> None:
        timer = self.state["timers"].pop(event.timer, None)
        if timer is None:
            return  # cancelled before it fired
        purpose = timer["purpose"]
        if purpose == "execution_timeout":
            self.end_execution("TimedOut", None, TIMEOUT, f"the execution passed its Timeout of "
                               f"{timer['seconds']:g}s", reason="execution timed out")
            return
        frame = self.state["frames"].get(timer["owner"])
        if frame is None:
            return
        if purpose == "wait":
            frame["timer"] = None
            state = self.state_of(frame)
            try:
                if self.finish_state(frame, state, frame["input"]):
                    self.ready.append(frame["id"])
            except StateFailure as failure:
                self.fail_state(frame, failure.error, failure.cause)
        elif purpose == "retry":
            frame["timer"] = None
            frame["stage"] = "attempt"
            self.ready.append(frame["id"])
        elif purpose == "heartbeat":
            callbacks.fired(self, frame, timer)
        elif purpose == "task_timeout":
            task_id = timer["task"]
            if frame.get("task") != task_id:
                return
            state = self.state_of(frame)
            self.close_task(frame, cancel=True, reason="task timed out")
            self.history("TaskTimedOut", self._exit_name(frame, state),
                         {"error": TIMEOUT, "cause": f"the task passed its Timeout of {timer['seconds']:g}s"},
                         schedule=int(task_id))
            self.fail_state(frame, TIMEOUT, f"the task passed its Timeout of {timer['seconds']:g}s")

    def start_wait(self, frame: Frame, state: State) -> None:
        seconds: Any = v1.wait_seconds(self, frame, state) if state.v1 is not None else state.seconds
        if state.timestamp is not None or state.timestamp_expr is not None:
            seconds = wait_until.seconds_left(self, frame, state)
        if state.seconds_expr is not None:
            try:
                seconds = state.seconds_expr.evaluate(self.env(frame, frame["input"]))
            except EvaluationError as exc:
                raise StateFailure(INVALID_ARGUMENT, f"Seconds.$: {exc.message}") from None
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                raise StateFailure(INVALID_ARGUMENT, f"Seconds.$ gave {_dumps(seconds)}, not a number of seconds ≥ 0")
        frame["stage"] = "waiting"
        frame["timer"] = self.add_timer(frame["id"], {"purpose": "wait"}, float(seconds or 0))
