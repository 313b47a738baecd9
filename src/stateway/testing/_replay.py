"""Replay: run an exported history against the current definition and find where they part.

Every task answers as it did in the history, at the virtual moment it did; waits, retries and timeouts run on
a virtual clock set to the history's start. The two histories are compared lane by lane (the root, each
Parallel branch, each Map item), so that interleaving of concurrent branches is not taken for a change."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stateway.testing._mocks import NO_ANSWER, Answer, Mock, MockCall
from stateway.testing._result import Result
from stateway.testing._routing import answer_event

if TYPE_CHECKING:
    from stateway.testing._harness import Harness

# events that depend on when the outside world answered or a cancel came back, not on the definition
_TIMING_EVENTS = frozenset({"TaskSubmitted", "TaskCancelled", "TaskCancelFailed"})
_END_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionStopped", "ExecutionTimedOut"})


def normalize_history(history: Any) -> list[dict[str, Any]]:
    """Events in the store's form (Time in epoch seconds, EventDetail a dict) from what GetExecutionHistory,
    ``stateway exec history --json`` (or its JSON lines with ``--follow``) or ``Result.export()`` gave: a dict
    with Events, a list, JSON text or a file."""
    if isinstance(history, (str, os.PathLike)):
        text = os.fspath(history)
        if not text.lstrip().startswith(("{", "[")) and Path(text).exists():
            text = Path(text).read_text()
        stripped = text.strip()
        if stripped.startswith("{") and "\n{" in stripped:  # JSON lines: `exec history --follow --json`
            history = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        else:
            history = json.loads(text)
    if isinstance(history, dict):
        history = history.get("Events", history.get("events"))
    if not isinstance(history, list):
        raise ValueError("a history is a list of events, or an object with Events (as GetExecutionHistory gives)")
    events = []
    for raw in history:
        event = {k[:1].upper() + k[1:]: v for k, v in raw.items()}
        when = event.get("Time")
        if isinstance(when, str):
            when = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
        detail = event.get("EventDetail") or {}
        if isinstance(detail, str):
            detail = json.loads(detail) if detail else {}
        events.append({"EventId": int(event["EventId"]), "Type": event["Type"], "StepName": event.get("StepName", ""),
                       "Time": float(when or 0), "ScheduleEventId": int(event.get("ScheduleEventId") or 0),
                       "EventDetail": detail})
    events.sort(key=lambda e: e["EventId"])
    if not events or events[0]["Type"] != "ExecutionStarted":
        raise ValueError("the history does not begin with ExecutionStarted (export the whole history)")
    return events


@dataclass(frozen=True)
class Divergence:
    event_id: int  # the recorded event where the replay went another way
    recorded: str
    replayed: str
    lane: str

    def __str__(self) -> str:
        where = f" in {self.lane}" if self.lane else ""
        return (f"the replay diverges at recorded event {self.event_id}{where}: the history has {self.recorded}, "
                f"the current definition does {self.replayed}")


@dataclass
class ReplayReport:
    divergence: Divergence | None
    recorded: list[dict[str, Any]]
    replayed: Result

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def __bool__(self) -> bool:
        return self.ok

    def assert_ok(self) -> None:
        if self.divergence is not None:
            raise AssertionError(f"{self.divergence}\n{self.replayed.summary()}")

    def __str__(self) -> str:
        if self.divergence is None:
            return f"the current definition replays all {len(self.recorded)} recorded events"
        return str(self.divergence)


class _Recorded(Mock):
    """Answers every task as the history says it was answered, at the moment it was."""

    def __init__(self, harness: Harness, outcomes: dict[tuple[str, int], tuple[float, Answer]]) -> None:
        super().__init__(state="*", responses=[NO_ANSWER])
        self._harness = harness
        self._outcomes = outcomes

    def matches(self, action: str, resource: str | None, state: str, step: str) -> bool:
        return True

    def answer(self, call: MockCall) -> Answer:
        self.calls.append(call)
        recorded = self._outcomes.get((call.step, call.attempt))
        if recorded is None:
            return Answer("later")  # still open (or cancelled) in the history
        moment, answer = recorded
        harness = self._harness
        runtime = harness.runtime

        def deliver() -> None:
            task = next((t for t in harness.store.open_tasks() if t["token"] == call.token), None)
            if task is None:
                return  # the replay closed it already (timed out, cancelled): as a late answer would find it
            runtime.complete_task(task["execution_id"], task["task_id"], answer_event(task["task_id"], answer))

        harness.at(moment, deliver)
        return Answer("later")


def _outcomes(events: list[dict[str, Any]]) -> dict[tuple[str, int], tuple[float, Answer]]:
    by_id = {e["EventId"]: e for e in events}
    counts: dict[str, int] = {}
    results = {e["ScheduleEventId"]: e for e in events
               if e["Type"] in ("TaskSucceeded", "TaskFailed", "TaskSubmitFailed")}
    outcomes = {}
    for event in events:
        if event["Type"] != "TaskScheduled":
            continue
        step = event["StepName"]
        index = counts.get(step, 0)
        counts[step] = index + 1
        result = results.get(event["EventId"])
        if result is None or result["EventId"] not in by_id:
            continue
        detail = result["EventDetail"]
        output = detail.get("output")
        if result["Type"] == "TaskSucceeded":
            answer = Answer("return", output=json.loads(output) if isinstance(output, str) else output)
        else:
            answer = Answer("submit_failed" if result["Type"] == "TaskSubmitFailed" else "throw",
                            error=detail.get("error", ""), cause=detail.get("cause", ""))
        outcomes[(step, index)] = (result["Time"], answer)
    return outcomes


def _lane(event: dict[str, Any]) -> str:
    step = event["StepName"]
    return step.rsplit("/", 1)[0] if "/" in step else ""


def _label(event: dict[str, Any]) -> str:
    text = event["Type"]
    if event["StepName"]:
        text += f" {event['StepName']!r}"
    if event["Type"] == "TaskScheduled":
        text += f" ({event['EventDetail'].get('action')})"
    elif event["Type"] == "StepExited" and "caught" in event["EventDetail"]:
        text += f" (caught {event['EventDetail']['caught']})"
    return text


def _lanes(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    lanes: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event["Type"] not in _TIMING_EVENTS:
            lanes.setdefault(_lane(event), []).append(event)
    return lanes


def compare(recorded: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> Divergence | None:
    ended = any(e["Type"] in _END_EVENTS for e in recorded)
    mine, theirs = _lanes(recorded), _lanes(replayed)
    found: list[Divergence] = []
    for lane, events in mine.items():
        other = theirs.get(lane, [])
        for i, event in enumerate(events):
            if i >= len(other):
                found.append(Divergence(event["EventId"], _label(event), "nothing (it stopped before)", lane))
                break
            if _label(event) != _label(other[i]):
                found.append(Divergence(event["EventId"], _label(event), _label(other[i]), lane))
                break
        else:
            if ended and len(other) > len(events):
                last = events[-1]["EventId"] if events else 0
                found.append(Divergence(last, "no more events", _label(other[len(events)]), lane))
    if ended:
        for lane, other in theirs.items():
            if lane not in mine and other:
                first_time = other[0]["Time"]
                anchor = max((e["EventId"] for e in recorded if e["Time"] <= first_time), default=0)
                found.append(Divergence(anchor, "no events there", _label(other[0]), lane))
    return min(found, key=lambda d: d.event_id) if found else None


def replay(harness: Harness, history: Any, flow: Any = None) -> ReplayReport:
    from stateway.testing._harness import Harness

    events = normalize_history(history)
    if flow is None:
        flows = harness.store.list_flows()
        if len(flows) != 1:
            names = ", ".join(f["name"] for f in flows) or "none"
            raise ValueError(f"say which flow to replay against: replay(history, flow=…) (registered: {names})")
        flow_name = flows[0]["name"]
    else:
        flow_name = harness._flow(flow)
    started = events[0]
    execution_input = started["EventDetail"].get("input", "{}")
    execution_input = json.loads(execution_input) if isinstance(execution_input, str) else execution_input
    with Harness(start=started["Time"], settings=harness.runtime.settings) as sandbox:
        for definition in harness.store.list_flows():
            sandbox.runtime.register_flow(definition["name"], definition["definition"])
        sandbox.mocks.append(_Recorded(sandbox, _outcomes(events)))
        handle = sandbox.start(flow_name, execution_input, name="replay")
        ended = any(e["Type"] in _END_EVENTS for e in events)
        result = handle.result(until=None if ended else events[-1]["Time"])
    return ReplayReport(compare(events, result.history), events, result)
