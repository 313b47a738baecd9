"""The interpreter. Pure: it reads only its arguments (the clock arrives as ``now``) and writes
only its result. Deterministic steps run in memory until every frame is blocked on the outside
world ("run to block"), so one incoming event gives one Decision and one commit.

An execution is a tree of *frames*: each frame runs one scope (the flow, a Parallel branch, a
Map item) and is blocked on at most one thing: a task, a timer, or its child frames.

A decision does bounded work: at most ``decision_events`` history events, ``decision_bytes`` of
event detail, or until the caller's ``should_yield()`` says so (a time slice, or other work
waiting). Past that it *yields*: the frames
still ready are saved in the state and a ``continue`` timer, due at once, brings the execution
back at its next turn, after the other executions' work. The events limit is checked at every
event, so a loop of Pass or Choice states fails with ``FnF.EventsLimitExceeded`` at the limit.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from stateway.engine import _inline_map as inline_map
from stateway.engine import _redrive
from stateway.engine import _v1 as v1
from stateway.engine._branches import BranchSteps
from stateway.engine._errors import (
    DATA_LIMIT,
    EVENTS_LIMIT,
    INVALID_ARGUMENT,
    StateFailure,
    matches_error,
)
from stateway.engine._globals import apply_globals
from stateway.engine._run import _Env
from stateway.engine._tasks import TaskSteps
from stateway.engine._timers import TimerSteps
from stateway.engine.messages import (
    CancelResult,
    Continue,
    Event,
    Redrive,
    Start,
    Stop,
    TaskResult,
    TaskSubmitted,
    TimerFired,
    event_from_wire,
)
from stateway.engine.state import STATE_VERSION, ExecutionState, Frame, upgrade_state
from stateway.expr import EvaluationError, Template
from stateway.expr._values import type_name
from stateway.fdl import Flow, Scope, State
from stateway.jsontext import MAX_DEPTH, InvalidJSONValue, check_value, deep_copy, nests_deeper_than
from stateway.jsontext import dumps as _dumps
from stateway.timefmt import iso

TokenMinter = Callable[[str], str]

STARTED_TYPES = frozenset({"Task", "Parallel", "Map"})
DEFAULT_LIMITS = {
    "events": 25_000,  # history events per execution (fdl.md §8)
    "payload_bytes": 64 * 1024,  # a state's input or output, an execution's input (fdl.md §3.5)
    "global_value_bytes": 256 * 1024,  # one $Global value (fdl.md §3.5)
    "global_key_bytes": 128,  # one $Global key (fdl.md §3.5)
    "globals_bytes": 1024 * 1024,  # all of $Global together [Stateway]
    "execution_seconds": 365 * 24 * 3600,
    "decision_events": 1_000,  # history events one decision writes before it yields to other executions
    "decision_bytes": 8 * 1024 * 1024,  # event detail one decision writes before it yields
}
CONTINUE_TIMER = "continue"


@dataclass
class Decision:
    """What one event produced. The runtime commits all of it in one transaction."""

    state: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)  # Invoke / Cancel in wire form, to the outbox
    timers: list[dict[str, Any]] = field(default_factory=list)  # {"timer", "due", "event": an event's wire form}
    cancelled_timers: list[str] = field(default_factory=list)
    opened_tasks: list[dict[str, Any]] = field(default_factory=list)
    closed_tasks: list[str] = field(default_factory=list)
    ended: dict[str, Any] | None = None  # {"status", "output", "error", "cause"} when the execution ended
    yielded: bool = False  # the decision stopped at its budget; a "continue" timer resumes it
    detail_bytes: int = 0  # text written into history event details (what ``decision_bytes`` bounds)


def check_execution_input(value: Any, limits: dict[str, int] | None = None) -> None:
    """What every entry point checks before an execution starts: strict JSON (``check_value``) and at
    most ``payload_bytes`` (64 KiB by default, fdl.md §3.5). Raises ``InvalidJSONValue``."""
    check_value(value)
    limit = {**DEFAULT_LIMITS, **(limits or {})}["payload_bytes"]
    if _size(value) > limit:
        raise InvalidJSONValue(f"over the limit of {limit} bytes for an execution's input")


def new_execution_state(name: str, flow_name: str, execution_input: Any, started: float) -> ExecutionState:
    return {
        "version": STATE_VERSION,
        "status": "Running",
        "name": name,
        "flow": flow_name,
        "input": execution_input,
        "started": started,
        "event_id": 0,
        "globals": {},
        "frames": {},
        "next_frame": 0,
        "tasks": {},
        "timers": {},
    }


class Interpreter:
    """Interprets one flow. ``decide`` is the only entry point; it never mutates its inputs."""

    def __init__(self, flow: Flow, *, limits: dict[str, int] | None = None) -> None:
        self.flow = flow
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}

    def decide(self, state: dict[str, Any], event: Event | dict[str, Any], now: float, mint_token: TokenMinter, *,
               owned: bool = False, should_yield: Callable[[], bool] | None = None) -> Decision:
        """``owned=True`` hands ``state`` over (the caller will not use it again), which saves a deep copy;
        by default the input is left untouched. ``state`` may be of an older version (it is upgraded,
        ``upgrade_state``); ``event`` may be in its wire form. ``should_yield`` is asked every few dozen
        events whether the decision should stop there (the engine itself has no clock)."""
        state = upgrade_state(state)  # a shallow copy when upgraded: ``owned`` still says whose its frames are
        run = _Run(self, state if owned else deep_copy(state), now, mint_token)
        run.should_yield = should_yield
        run.handle(event if type(event) is not dict else event_from_wire(event))
        return run.decision


def _size(value: Any) -> int:
    return len(_dumps(value).encode())


def _strict_text(value: Any, what: str) -> str:
    """JSON text of a value bound for the state. orjson refuses lone surrogates, non-JSON types and
    very deep nesting; only then is the value walked, to say what is wrong (or, for integers beyond
    64 bits, which are valid JSON, to fall back to the standard library)."""
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        try:
            check_value(value)
        except InvalidJSONValue as exc:
            raise StateFailure(INVALID_ARGUMENT, f"{what}: {exc}") from None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Run(TimerSteps, TaskSteps, BranchSteps):
    def __init__(self, interp: Interpreter, state: dict[str, Any], now: float, mint_token: TokenMinter) -> None:
        self.interp = interp
        self.flow = interp.flow
        self.state = state
        self.now = now
        self.mint_token = mint_token
        self.decision = Decision(state=state)
        self.ready: deque[str] = deque()
        self.over_limit = False
        limits = interp.limits
        self.events_left = limits["decision_events"]
        self.bytes_left = limits["decision_bytes"]
        self.should_yield: Callable[[], bool] | None = None
        self.out_of_budget = False
        self.failed_frames: dict[str, Any] | None = None  # the frames as a failure began (_redrive.keep)

    # -- events in -------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        kind = type(event)
        if kind is CancelResult:  # recorded even after the end: a stop's cancels finish later
            self.history("TaskCancelled" if event.ok else "TaskCancelFailed", event.step,
                         {"detail": event.detail}, schedule=int(event.task))
            return
        if kind is Redrive:
            _redrive.resume(self, event)
            self.run_to_block()
            return
        if self.state["status"] != "Running":
            return  # late events after the end change nothing
        pending = self.state.pop("ready", None)
        if pending:  # frames a previous decision left ready when it yielded
            self.ready.extend(pending)
        if kind is Continue:
            self.state.pop("continuing", None)
        elif kind is Start:
            self.start()
        elif kind is TaskSubmitted:
            self.on_task_submitted(event)
        elif kind is TaskResult:
            self.on_task_result(event)
        elif kind is TimerFired:
            self.on_timer(event)
        elif kind is Stop:
            self.end_execution("Stopped", None, event.error, event.cause, reason="execution stopped")
        else:
            raise TypeError(f"not an inbox event: {event!r}")
        self.run_to_block()

    def start(self) -> None:
        st = self.state
        self.history("ExecutionStarted", "", {"input": _dumps(st["input"])})
        # a flow's own Timeout, or else the longest an execution may run (fdl.md §8)
        limit = self.flow.timeout or self.interp.limits["execution_seconds"]
        if limit:
            self.add_timer("exec", {"purpose": "execution_timeout", "seconds": limit}, limit)
        root_input = v1.flow_input(self, st["input"]) if self.flow.v1 is not None else st["input"]
        self.new_frame(None, self.flow.root, "", root_input, index=0)

    # -- history -------------------------------------------------------------------------------
    def history(self, kind: str, step: str, detail: dict[str, Any] | None = None, schedule: int = 0) -> int:
        st = self.state
        st["event_id"] += 1
        event_id = st["event_id"]
        if event_id > self.interp.limits["events"]:
            self.over_limit = True
        self.events_left -= 1
        if detail:
            for value in detail.values():
                if type(value) is str:
                    self.bytes_left -= len(value)
                    self.decision.detail_bytes += len(value)
        if self.events_left <= 0 or self.bytes_left <= 0 or (
                self.should_yield is not None and not self.events_left & 31 and self.should_yield()):
            self.out_of_budget = True
        self.decision.history.append({
            "EventId": event_id,
            "Type": kind,
            "StepName": step,
            "Time": self.now,
            "ScheduleEventId": schedule,
            "EventDetail": detail or {},
        })
        return event_id

    # -- frames ------------------------------------------------------------------------------
    def new_frame(self, parent: str | None, scope: Scope, path: str, input_: Any, index: int,
                  item: Any = None) -> str:
        st = self.state
        fid = f"f{st['next_frame']}"
        st["next_frame"] += 1
        st["frames"][fid] = {
            "id": fid,
            "parent": parent,
            "index": index,
            "scope": scope.key,
            "path": path,
            "state": scope.start_at,
            "input": input_,
            "stage": "enter",
            "retries": 0,
            "rule_attempts": {},
            "task": None,
            "timer": None,
            "kids": None,
            "item": item,
        }
        if self.flow.v1 is not None:
            v1.init_frame(st["frames"][fid], input_)
        self.ready.append(fid)
        return fid

    def state_of(self, frame: Frame) -> State:
        return self.flow.scopes[frame["scope"]].states[frame["state"]]

    def context(self, frame: Frame, input_: Any, output: Any, extra: Any) -> dict[str, Any]:
        st = self.state
        current: dict[str, Any] = {
            "Name": frame["state"],
            "Input": input_,
            "Output": output,
            "RetryCount": frame["retries"],
        }
        if isinstance(extra, dict):
            current.update(extra)
        ctx: dict[str, Any] = {
            "Execution": {"Name": st["name"], "Input": st["input"], "RoleArn": "",
                          "StartTime": iso(st["started"]), "RedriveCount": st.get("redrive_count", 0)},
            "Flow": {"Name": st["flow"]},
            "Current": current,
        }
        item = inline_map.enclosing_item(st["frames"], frame)
        if item is not None:
            ctx["Map"] = {"Item": item}
        elif "map" in st:  # a distributed Map's child: its item and run
            ctx["Map"] = st["map"]
        return ctx

    def env(self, frame: Frame, input_: Any, output: Any = None, item: Any = None,
            current: dict[str, Any] | None = None) -> _Env:
        return _Env(self, frame, input_, output, item, current)

    def build(self, template: Template, env: _Env, what: str) -> Any:
        try:
            return template.build(env)
        except EvaluationError as exc:  # FnF.InvalidArgument, or a function's own code (v1Sized's data limit)
            raise StateFailure(exc.code, f"{what}: {exc.message}") from None

    def output_text(self, value: Any, what: str, limit: int | None = None) -> str:
        """The JSON text of a value that becomes a state's input or output: checked for strict JSON,
        size (``payload_bytes``) and nesting depth."""
        text = _strict_text(value, what)
        limit = self.interp.limits["payload_bytes"] if limit is None else limit
        if len(text) > limit // 4 and len(text.encode()) > limit:
            raise StateFailure(DATA_LIMIT, f"{what} is over {limit} bytes")
        if len(text) > 2 * MAX_DEPTH and nests_deeper_than(value, MAX_DEPTH):
            raise StateFailure(INVALID_ARGUMENT, f"{what}: arrays and objects nest more than {MAX_DEPTH} deep")
        return text

    # -- the loop ------------------------------------------------------------------------------
    def run_to_block(self) -> None:
        frames = self.state["frames"]
        while self.ready and self.state["status"] == "Running" and not self.over_limit:
            if self.out_of_budget:
                self.pause()
                return
            fid = self.ready.popleft()
            frame = frames.get(fid)
            if frame is None:
                continue  # cancelled meanwhile
            try:
                self.advance(frame)
            except StateFailure as failure:
                self.fail_state(frame, failure.error, failure.cause)
        if self.over_limit and self.state["status"] == "Running":
            self.ready.clear()
            self.end_execution("Failed", None, EVENTS_LIMIT,
                               f"the execution passed {self.interp.limits['events']} history events",
                               reason="execution failed")

    def pause(self) -> None:
        """Out of budget with frames still ready: save them and come back at the next turn."""
        st = self.state
        st["ready"] = [fid for fid in dict.fromkeys(self.ready) if fid in st["frames"]]
        self.ready.clear()
        self.decision.yielded = True
        if not st.get("continuing"):
            st["continuing"] = True
            self.decision.timers.append({"timer": CONTINUE_TIMER, "due": self.now, "event": Continue().to_wire()})

    def advance(self, frame: Frame) -> None:
        """Run this frame until it blocks, its scope ends, or the decision's budget is spent."""
        while True:
            if self.out_of_budget or self.over_limit:
                self.ready.appendleft(frame["id"])  # resumable: every stage below starts from the frame alone
                return
            stage = frame["stage"]
            state = self.state_of(frame)
            if stage == "enter":
                if state.v1 is not None:
                    v1.enter(self, frame, state)
                step = self._exit_name(frame, state)
                self.history("StepEntered", step, {"input": _dumps(frame["input"])})
                frame["retries"] = 0
                frame["rule_attempts"] = {}
                if state.input_constructor is not None:
                    env = self.env(frame, frame["input"])
                    frame["input"] = self.build(state.input_constructor, env, "InputConstructor")
                frame["stage"] = "attempt"
                continue
            if stage != "attempt":
                return  # blocked
            kind = state.type
            if kind == "Pass":
                if not self.finish_state(frame, state, frame["input"]):
                    return
            elif kind == "Choice" and state.v1 is not None:
                if not v1.choose(self, frame, state):
                    return
            elif kind == "Choice":
                target = self.choose(frame, state)
                apply_globals(self, frame, state, frame["input"])
                text = self.output_text(frame["input"], f"the output of state {state.name!r}")
                self.history("StepExited", self._exit_name(frame, state), {"output": text})
                frame["state"] = target
                frame["stage"] = "enter"
            elif kind == "Wait":
                self.start_wait(frame, state)
                return
            elif kind == "Succeed" and state.v1 is not None:
                v1.finish(self, frame, state, {})
                return
            elif kind == "Succeed":
                output = frame["input"]
                globals_before = apply_globals(self, frame, state, output)
                if state.output_constructor is not None:
                    env = self.env(frame, frame["input"], frame["input"])
                    env.globals = globals_before
                    output = self.build(state.output_constructor, env, "OutputConstructor")
                text = self.output_text(output, f"the output of state {state.name!r}")
                self.history("StepExited", self._exit_name(frame, state), {"output": text})
                self.end_scope(frame, True, output)
                return
            elif kind == "Fail":
                if state.v1 is None:
                    apply_globals(self, frame, state, frame["input"])
                self.history("StepFailed", self._exit_name(frame, state),
                             {"error": state.code, "cause": state.detail})
                self.history("StepExited", self._exit_name(frame, state), {})
                self.end_scope(frame, False, None, state.code or "", state.detail or "")
                return
            elif kind == "Task":
                self.schedule_task(frame, state)
                return
            elif kind == "Parallel":
                self.start_parallel(frame, state)
                return
            elif kind == "Map":
                if state.map_run is not None:
                    self.schedule_task(frame, state)  # a distributed Map is one task: the Map Run
                else:
                    self.start_map(frame, state)
                return
            else:  # pragma: no cover - the loader admits only the types above
                raise AssertionError(kind)

    def _exit_name(self, frame: Frame, state: State) -> str:
        return f"{frame['path']}/{state.name}" if frame["path"] else state.name

    def choose(self, frame: Frame, state: State) -> str:
        env = self.env(frame, frame["input"])
        for branch in state.choices:
            try:
                value = branch.condition.evaluate(env)
            except EvaluationError as exc:
                raise StateFailure(INVALID_ARGUMENT, f"Choice condition: {exc.message}") from None
            if type(value) is not bool:
                raise StateFailure(INVALID_ARGUMENT, f"Choice condition {branch.condition.source!r} gave "
                                   f"{_dumps(value)}, not a boolean")
            if value:
                return branch.next
        return state.default or ""

    def finish_state(self, frame: Frame, state: State, raw_output: Any) -> bool:
        """Apply Global/Output constructors and move on. False when the frame's scope ended."""
        if state.v1 is not None:
            return v1.finish(self, frame, state, raw_output)
        globals_before = apply_globals(self, frame, state, raw_output)
        output = raw_output
        if state.output_constructor is not None:
            env = self.env(frame, frame["input"], raw_output)
            env.globals = globals_before
            output = self.build(state.output_constructor, env, "OutputConstructor")
        if type(output) is not dict:
            raise StateFailure(INVALID_ARGUMENT, f"the output of state {state.name!r} is {type_name(output)}, "
                               "not an object; shape it with an OutputConstructor")
        step = self._exit_name(frame, state)
        text = self.output_text(output, f"the output of state {state.name!r}")
        if state.type in STARTED_TYPES:  # StepStarted … StepSucceeded | StepFailed … StepExited (fdl.md §7)
            self.history("StepSucceeded", step, {"output": text})
        self.history("StepExited", step, {"output": text})
        if state.end:
            self.end_scope(frame, True, output)
            return False
        frame["state"] = state.next
        frame["input"] = output
        frame["stage"] = "enter"
        return True

    def check_globals(self, update: dict[str, Any]) -> None:
        """fdl.md §3.5: a key up to 128 bytes, a value up to 256 KiB; and all of $Global together
        up to ``globals_bytes``. Sizes of the values kept are remembered in the state."""
        limits = self.interp.limits
        sizes: dict[str, int] = self.state.setdefault("global_sizes", {})
        for key, value in update.items():
            if len(key.encode()) > limits["global_key_bytes"]:
                raise StateFailure(DATA_LIMIT, f"the $Global key {key[:40]!r}… is over {limits['global_key_bytes']} "
                                   "bytes")
            text = self.output_text(value, f"the $Global value {key!r}", limit=limits["global_value_bytes"])
            sizes[key] = len(key.encode()) + len(text.encode())
        if sum(sizes.values()) > limits["globals_bytes"]:
            for key in update:  # undo: the state fails and $Global keeps its earlier values
                old = self.state["globals"].get(key)
                if key in self.state["globals"]:
                    sizes[key] = len(key.encode()) + _size(old)
                else:
                    sizes.pop(key, None)
            raise StateFailure(DATA_LIMIT, f"$Global would be over {limits['globals_bytes']} bytes in all")

    # -- failures, retry, catch ------------------------------------------------------------------
    def fail_state(self, frame: Frame, error: str, cause: str) -> None:
        state = self.state_of(frame)
        step = self._exit_name(frame, state)
        # a function's exception classes: Errors may name them too (fdl-v1.md §8.1), the error stays `error`
        names = (error, *(frame.pop("error_aliases", None) or ()))
        for index, rule in enumerate(state.retry):
            if not any(matches_error(rule.errors, name) for name in names):
                continue
            used = frame["rule_attempts"].get(str(index), 0)
            if used < rule.max_attempts:
                _redrive.forget(self)
                frame["rule_attempts"][str(index)] = used + 1
                frame["retries"] += 1
                delay = rule.delay(used + 1)
                self.history("StepFailed", step, {"error": error, "cause": cause, "retry": used + 1,
                                                  "delaySeconds": delay})
                frame["stage"] = "retry_wait"
                frame["timer"] = self.add_timer(frame["id"], {"purpose": "retry"}, delay)
                return
            break  # the first matching rule decides; its attempts are spent
        self.history("StepFailed", step, {"error": error, "cause": cause})
        for rule in state.catch:
            if not any(matches_error(rule.errors, name) for name in names):
                continue
            _redrive.forget(self)
            if state.v1 is not None:
                v1.caught(self, frame, state, rule, error, cause)
                return
            current = {"Error": {"Code": error, "Detail": cause}}
            if rule.output is not None:
                try:
                    next_input = rule.output.build(self.env(frame, frame["input"], None, current=current))
                    text = self.output_text(next_input, "Catch OutputConstructor")
                except EvaluationError as exc:
                    error, cause = INVALID_ARGUMENT, f"Catch OutputConstructor: {exc.message}"
                    break
                except StateFailure as failure:
                    error, cause = failure.error, failure.cause
                    break
            else:
                next_input = {"Code": error, "Detail": cause}
                text = _dumps(next_input)
            self.history("StepExited", step, {"output": text, "caught": error})
            frame["state"] = rule.next
            frame["input"] = next_input
            frame["stage"] = "enter"
            self.ready.append(frame["id"])
            return
        self.history("StepExited", step, {})
        self.end_scope(frame, False, None, error, cause)

    # -- cancellation -------------------------------------------------------------------------------
    def cancel_frame(self, fid: str, reason: str) -> None:
        frame = self.state["frames"].pop(fid, None)
        if frame is None:
            return
        if frame.get("kids"):
            for child in list(frame["kids"]["running"]):
                self.cancel_frame(child, reason)
        if frame.get("task"):
            self.close_task(frame, cancel=True, reason=reason)
        self.drop_timer(frame.get("timer"))

    def end_execution(self, status: str, output: Any, error: str, cause: str, reason: str) -> None:
        st = self.state
        _redrive.remember(self, status)
        for fid in [f for f, fr in st["frames"].items() if fr["parent"] is None]:
            self.cancel_frame(fid, reason)
        st["frames"].clear()
        for timer_id in list(st["timers"]):
            self.drop_timer(timer_id)
        detail: dict[str, Any]
        if status == "Succeeded":
            detail = {"output": _dumps(output)}
        else:
            detail = {"error": error, "cause": cause}
        self.history(f"Execution{status}", "", detail)
        st["status"] = status
        self.decision.ended = {"status": status, "output": output, "error": error or None, "cause": cause or None}
