"""A run's tasks: scheduling one (the Invoke command, its token, timeout and heartbeat timers),
closing or cancelling it, and the events that come back (submitted, succeeded, failed). A part
of the interpreter's ``_Run``."""

from __future__ import annotations

from typing import Any

from stateway.engine import _callbacks as callbacks
from stateway.engine import _redrive
from stateway.engine import _v1 as v1
from stateway.engine._errors import DATA_LIMIT, INVALID_ARGUMENT, StateFailure
from stateway.engine._maprun import MAP_RUN_ACTION, MAP_RUN_MODE, map_run_name
from stateway.engine._maprun import plan as plan_map_run
from stateway.engine.messages import Cancel, Invoke, TaskResult, TaskSubmitted
from stateway.engine.state import Frame
from stateway.expr import EvaluationError
from stateway.fdl import State
from stateway.jsontext import InvalidJSONValue, check_value
from stateway.jsontext import dumps as _dumps


def _task_kind(state: State) -> tuple[str | None, str]:
    """The action and TaskMode a state's task runs with; a distributed Map's is the Map Run."""
    if state.map_run is not None:
        return MAP_RUN_ACTION, MAP_RUN_MODE
    return state.action, state.task_mode


class TaskSteps:
    """Mixed into ``_Run`` (``_interpreter.py``): ``self`` is the run."""

    # -- tasks -----------------------------------------------------------------------------------
    def schedule_task(self, frame: Frame, state: State) -> None:
        step = self._exit_name(frame, state)
        self.history("StepStarted", step, {})
        task_event = self.state["event_id"] + 1
        task_id = str(task_event)
        token = self.mint_token(task_id)
        action, mode = _task_kind(state)
        current = {"TaskToken": token} if mode == "WaitForCustomCallback" else None
        env = self.env(frame, frame["input"], current=current)
        env, heartbeat, key = callbacks.prepare(self, frame, state, current, env)
        timeout = state.timeout
        if state.map_run is not None:
            run_name = map_run_name(self.state["name"], task_id)
            parameters = plan_map_run(self, frame, state, run_name, self.interp.limits)
            _redrive.map_run_parameters(frame, parameters, run_name)
            self.history("MapRunStarted", step, {"output": _dumps({"MapRunName": run_name}), "mapRunName": run_name})
        elif state.v1 is not None:
            parameters = v1.task_parameters(self, frame, state, token)
        else:
            parameters = self.build(state.parameters, env, "Parameters") if state.parameters is not None else {}
        if state.timeout_expr is not None:
            try:
                timeout = state.timeout_expr.evaluate(env)
            except EvaluationError as exc:
                raise StateFailure(INVALID_ARGUMENT, f"Timeout.$: {exc.message}") from None
            if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 <= timeout <= 604800:
                raise StateFailure(INVALID_ARGUMENT, f"Timeout.$ gave {_dumps(timeout)}, not 0–604800 seconds")
        callbacks.check_window(heartbeat, timeout)
        if state.map_run is None:
            self.history("TaskScheduled", step, {"action": action, "taskMode": mode,
                                                 "parameters": self.output_text(parameters, "Parameters"),
                                                 **v1.scheduled_detail(state)})
        frame["task"] = task_id
        frame["stage"] = "task"
        frame["submitted"] = False
        self.state["tasks"][task_id] = frame["id"]
        invoke = Invoke(task_id, token, state.name, step, action or "", mode, parameters, timeout or None, key)
        self.decision.opened_tasks.append(invoke.opened_task())
        self.decision.commands.append(invoke.to_wire())
        if timeout:
            frame["timer"] = self.add_timer(frame["id"], {"purpose": "task_timeout", "task": task_id,
                                                          "seconds": timeout}, float(timeout))
        callbacks.start(self, frame, task_id, heartbeat)

    def close_task(self, frame: Frame, *, cancel: bool, reason: str) -> None:
        task_id = frame["task"]
        if task_id is None:
            return
        state = self.state_of(frame)
        self.state["tasks"].pop(task_id, None)
        self.decision.closed_tasks.append(task_id)
        frame["task"] = None
        self.drop_timer(frame.get("timer"))
        frame["timer"] = None
        callbacks.stop(self, frame)
        if cancel:
            step = self._exit_name(frame, state)
            action, mode = _task_kind(state)
            if state.map_run is not None:
                name = map_run_name(self.state["name"], task_id)
                self.history("MapRunAborted", step, {"output": _dumps({"MapRunName": name}), "mapRunName": name,
                                                     "reason": reason}, schedule=int(task_id))
            self.history("TaskCancelRequested", step, {"reason": reason}, schedule=int(task_id))
            self.decision.commands.append(Cancel(task_id, action or "", mode, step, reason).to_wire())

    def on_task_submitted(self, event: TaskSubmitted) -> None:
        fid = self.state["tasks"].get(event.task)
        frame = self.state["frames"].get(fid) if fid else None
        if frame is None or frame.get("submitted"):
            return
        frame["submitted"] = True
        if self.state_of(frame).map_run is not None:
            return  # MapRunStarted said it already
        self.history("TaskSubmitted", self._exit_name(frame, self.state_of(frame)),
                     _with_logs({"output": _dumps(event.output)} if event.output is not None else {}, event),
                     schedule=int(event.task))

    def on_task_result(self, event: TaskResult) -> None:
        task_id = event.task
        fid = self.state["tasks"].get(task_id)
        frame = self.state["frames"].get(fid) if fid else None
        if frame is None:
            return  # closed already (timed out, cancelled): a late result changes nothing
        state = self.state_of(frame)
        step = self._exit_name(frame, state)
        if event.submit_failed:
            self.close_task(frame, cancel=False, reason="")
            self.history("TaskSubmitFailed", step, _with_logs({"error": event.error, "cause": event.cause}, event),
                         schedule=int(task_id))
            frame["error_aliases"] = list(event.aliases) or None
            self.fail_state(frame, event.error, event.cause)
            return
        if state.map_run is not None:
            frame["submitted"] = True
            summary = event.map_run or {}
            detail = {"output": _dumps(summary), "mapRunName": summary.get("MapRunName", "")}
            if not event.ok:
                detail.update({"error": event.error, "cause": event.cause})
            self.history("MapRunSucceeded" if event.ok else "MapRunFailed", step, detail, schedule=int(task_id))
        if not frame.get("submitted"):
            frame["submitted"] = True
            self.history("TaskSubmitted", step, {}, schedule=int(task_id))
        self.close_task(frame, cancel=False, reason="")
        if event.ok and state.map_run is not None:
            output = event.output
            try:
                limit = self.interp.limits["payload_bytes"]
                if len(_dumps(output).encode()) > limit:
                    raise StateFailure(DATA_LIMIT, f"the Map's output is over {limit} bytes; write the children's "
                                       "results to files with ResultWriter")
                if self.finish_state(frame, state, output):
                    self.ready.append(frame["id"])
            except StateFailure as failure:
                self.fail_state(frame, failure.error, failure.cause)
        elif event.ok:
            output = event.output
            try:
                check_value(output)
                text = _dumps(output)
            except InvalidJSONValue as exc:
                output, text = None, "null"
                failure: StateFailure | None = StateFailure(INVALID_ARGUMENT, f"the task's output is not JSON: {exc}")
            else:
                failure = None
            self.history("TaskSucceeded", step, _with_logs({"output": text}, event), schedule=int(task_id))
            try:
                if failure is not None:
                    raise failure
                if len(text) > self.interp.limits["payload_bytes"] // 4 and \
                        len(text.encode()) > self.interp.limits["payload_bytes"]:
                    raise StateFailure(DATA_LIMIT, f"the task's output is over {self.interp.limits['payload_bytes']} "
                                       "bytes")
                if self.finish_state(frame, state, output):
                    self.ready.append(frame["id"])
            except StateFailure as failure:
                self.fail_state(frame, failure.error, failure.cause)
        else:
            if state.map_run is None:
                self.history("TaskFailed", step, _with_logs({"error": event.error, "cause": event.cause}, event),
                             schedule=int(task_id))
            frame["error_aliases"] = list(event.aliases) or None
            self.fail_state(frame, event.error, event.cause)



def _with_logs(detail: dict[str, Any], event: TaskResult | TaskSubmitted) -> dict[str, Any]:
    """A task's history detail, with the reference to what it printed when there is one."""
    if event.logs:
        detail["logs"] = event.logs
    return detail
