"""Reading an execution's history the way a test asks about it: which states, how many attempts, what ended."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from stateway.timefmt import iso


def _parse(text: Any) -> Any:
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


@dataclass
class Attempt:
    """One try of a Task (or of a Parallel/Map): what it was called with and how it ended."""

    action: str | None = None
    mode: str | None = None
    parameters: Any = None
    outcome: str = "running"  # succeeded | failed | timed_out | submit_failed | cancelled | running
    output: Any = None
    error: str | None = None
    cause: str | None = None


@dataclass
class Step:
    """One entry into a state. A state entered twice (a loop) is two steps."""

    name: str  # the state's name
    path: str  # its full step name: ``Fanout/Branch0/Slow``, ``Each/Item[3]/Check``
    input: Any = None
    output: Any = None
    outcome: str = "running"  # succeeded | failed | caught | cancelled | running
    error: str | None = None  # the error that ended it (failed or caught)
    cause: str | None = None
    retried: list[tuple[str, str]] = field(default_factory=list)  # (error, cause) of each failure that was retried
    attempt_records: list[Attempt] = field(default_factory=list)
    entered_at: float = 0.0
    exited_at: float | None = None

    @property
    def attempts(self) -> int:
        return max(1, len(self.attempt_records))

    @property
    def retries(self) -> int:
        return len(self.retried)

    @property
    def caught(self) -> str | None:
        return self.error if self.outcome == "caught" else None

    def describe(self) -> str:
        text = self.path
        if len(self.attempt_records) > 1:
            text += f" ×{self.attempts}"
        if self.retried:
            text += " (retried after " + ", ".join(e for e, _ in self.retried) + ")"
        if self.outcome == "caught":
            text += f" caught {self.error}"
        elif self.outcome == "failed":
            text += f" failed {self.error}"
        elif self.outcome in ("cancelled", "running"):
            text += f" [{self.outcome}]"
        return text

    def __str__(self) -> str:
        return self.describe()


def analyse(history: list[dict[str, Any]]) -> list[Step]:
    """Steps in the order they were entered, from a history in the store's form."""
    steps: list[Step] = []
    open_steps: dict[str, Step] = {}
    tasks: dict[int, Attempt] = {}
    for event in history:
        kind, path, detail = event["Type"], event["StepName"], event["EventDetail"]
        step = open_steps.get(path)
        if kind == "StepEntered":
            step = Step(name=path.rsplit("/", 1)[-1], path=path, input=_parse(detail.get("input")),
                        entered_at=event["Time"])
            steps.append(step)
            open_steps[path] = step
        elif step is None:
            continue
        elif kind == "StepStarted":
            step.attempt_records.append(Attempt())
        elif kind == "TaskScheduled":
            attempt = step.attempt_records[-1] if step.attempt_records else Attempt()
            if not step.attempt_records:
                step.attempt_records.append(attempt)
            attempt.action, attempt.mode = detail.get("action"), detail.get("taskMode")
            attempt.parameters = _parse(detail.get("parameters"))
            tasks[event["EventId"]] = attempt
        elif kind in ("TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed"):
            attempt = tasks.get(event["ScheduleEventId"])
            if attempt is not None:
                attempt.outcome = {"TaskSucceeded": "succeeded", "TaskFailed": "failed", "TaskTimedOut": "timed_out",
                                   "TaskSubmitFailed": "submit_failed"}[kind]
                attempt.output = _parse(detail.get("output"))
                attempt.error, attempt.cause = detail.get("error"), detail.get("cause")
        elif kind == "TaskCancelRequested":
            attempt = tasks.get(event["ScheduleEventId"])
            if attempt is not None and attempt.outcome == "running":
                attempt.outcome = "cancelled"
        elif kind == "StepFailed":
            if "retry" in detail:
                step.retried.append((detail.get("error", ""), detail.get("cause", "")))
                if step.attempt_records and step.attempt_records[-1].outcome == "running":
                    step.attempt_records[-1].outcome = "failed"
            else:
                step.error, step.cause = detail.get("error"), detail.get("cause")
                if step.attempt_records and step.attempt_records[-1].outcome == "running":
                    step.attempt_records[-1].outcome = "failed"
                    step.attempt_records[-1].error = step.error
                    step.attempt_records[-1].cause = step.cause
        elif kind == "StepExited":
            step.exited_at = event["Time"]
            if "caught" in detail:
                step.outcome, step.error = "caught", detail["caught"]
                step.output = _parse(detail.get("output"))
            elif "output" in detail:
                step.outcome, step.output = "succeeded", _parse(detail["output"])
            else:
                step.outcome = "failed"
            open_steps.pop(path, None)
    ended = any(e["Type"].startswith("Execution") and e["Type"] != "ExecutionStarted" for e in history)
    if ended:
        for step in open_steps.values():
            step.outcome = "cancelled"
            for attempt in step.attempt_records:
                if attempt.outcome == "running":
                    attempt.outcome = "cancelled"
    return steps


def _matches(expected: str, step: Step) -> bool:
    return expected in (step.name, step.path)


def top_level(steps: list[Step]) -> list[Step]:
    """The states of the flow's own scope: a Parallel or Map is one state, what ran inside it is left out."""
    return [s for s in steps if s.path == s.name]


def path_mismatch(expected: list[str], steps: list[Step], *, exact: bool = True, nested: bool = False) -> str | None:
    """None when the steps follow ``expected`` (all of them when exact, else as a subsequence); else why not.
    Only the top-level states count unless ``nested`` (then the states inside branches and items too, in the
    order they were entered)."""
    if not nested:
        steps = top_level(steps)
    entered = [s.name if s.path == s.name else s.path for s in steps]
    if exact:
        for i, want in enumerate(expected):
            if i >= len(steps):
                return (f"expected {want!r} as step {i + 1}, but the execution entered only {len(steps)} states\n"
                        + _both(expected, entered))
            if not _matches(want, steps[i]):
                return f"expected {want!r} as step {i + 1}, entered {entered[i]!r}\n" + _both(expected, entered)
        if len(steps) > len(expected):
            return (f"expected {len(expected)} states, the execution entered {len(steps)}: then {entered[len(expected)]!r}"
                    "\n" + _both(expected, entered))
        return None
    position = 0
    for i, want in enumerate(expected):
        while position < len(steps) and not _matches(want, steps[position]):
            position += 1
        if position == len(steps):
            after = f" after {expected[i - 1]!r}" if i else ""
            return f"expected {want!r}{after}, never entered\n" + _both(expected, entered)
        position += 1
    return None


def _both(expected: list[str], entered: list[str]) -> str:
    return f"  expected: {' → '.join(expected)}\n  entered:  {' → '.join(entered) or '(nothing)'}"


class Result:
    """How an execution ended (or where it is, if it has not): status, output, error, cause, history, steps."""

    def __init__(self, row: Any, history: list[dict[str, Any]], children: list[Result] | None = None) -> None:
        self.execution_id: int = row.id
        self.flow: str = row.flow_name
        self.name: str = row.name
        self.status: str = row.status
        self.input: Any = row.input
        self.output: Any = row.output
        self.error: str | None = row.error
        self.cause: str | None = row.cause
        self.started: float = row.started
        self.stopped: float | None = row.stopped
        self.history = history
        self.children = children or []
        self._steps: list[Step] | None = None

    @property
    def duration(self) -> float | None:
        """Virtual seconds from start to end."""
        return None if self.stopped is None else self.stopped - self.started

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"

    def steps(self, name: str | None = None) -> list[Step]:
        if self._steps is None:
            self._steps = analyse(self.history)
        return [s for s in self._steps if name is None or _matches(name, s)]

    def path(self, *, nested: bool = True) -> list[str]:
        """The names of the states entered, in order; ``nested=False``: only the top-level ones (what
        ``assert_path`` checks by default)."""
        return [s.name for s in (self.steps() if nested else top_level(self.steps()))]

    def step(self, name: str, occurrence: int = 0) -> Step:
        """The ``occurrence``-th entry into the state ``name`` (a state name or a full step path)."""
        found = self.steps(name)
        if len(found) <= occurrence:
            entered = ", ".join(s.path for s in self.steps()) or "nothing"
            times = "never entered" if not found else f"entered only {len(found)} time(s)"
            raise AssertionError(f"state {name!r} was {times}; the execution entered: {entered}")
        return found[occurrence]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.history if kind is None or e["Type"] == kind]

    def assert_path(self, expected: list[str], *, exact: bool = True, nested: bool = False) -> None:
        """The states entered, in order, are ``expected`` (exact) or include it in order (``exact=False``).
        By default only the flow's top-level states count (a Parallel or Map is one state); ``nested=True``
        counts the states inside branches and items too, interleaved as they were entered."""
        problem = path_mismatch(list(expected), self.steps(), exact=exact, nested=nested)
        if problem:
            raise AssertionError(f"{self.flow}/{self.name} ({self.status}): {problem}\n{self.summary()}")

    def assert_succeeded(self) -> None:
        if self.status != "Succeeded":
            raise AssertionError(f"{self.flow}/{self.name} ended {self.status}, not Succeeded: "
                                 f"{self.error}: {self.cause}\n{self.summary()}")

    def summary(self) -> str:
        lines = [f"  {s.describe()}" for s in self.steps()]
        end = f"{self.status}" + (f" {self.error}: {self.cause}" if self.error else "")
        when = "" if self.duration is None else f" after {_span(self.duration)} (virtual)"
        return "steps:\n" + "\n".join(lines or ["  (none)"]) + f"\nended: {end}{when}"

    def __repr__(self) -> str:
        return f"<Result {self.flow}/{self.name} {self.status} output={self.output!r} error={self.error!r}>"

    def export(self) -> dict[str, Any]:
        """The history as GetExecutionHistory gives it (for replay)."""
        return {"Events": [api_event(e) for e in self.history]}


def api_event(event: dict[str, Any]) -> dict[str, Any]:
    return {"EventId": event["EventId"], "Type": event["Type"], "StepName": event["StepName"],
            "Time": iso(event["Time"]), "ScheduleEventId": event["ScheduleEventId"],
            "EventDetail": json.dumps(event["EventDetail"], ensure_ascii=False)}


def _span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"
