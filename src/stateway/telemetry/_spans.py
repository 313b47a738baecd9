"""Committed history events → finished spans, with explicit start and end times.

The interpreter stays pure: it knows nothing of tracing. A span opens at the event that starts it
(ExecutionStarted, StepEntered, BranchEntered/IterationEntered, TaskScheduled, MapRunStarted, TaskSubmitted of a
callback task, a StepFailed that will be retried) and is finished by the event that closes it.
Spans are emitted when they finish; an execution's open spans are kept per execution and rebuilt
from the stored history outline when a batch arrives that this process has not seen the start of
(another worker committed it, or the process restarted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stateway.telemetry._ids import BACKOFF, ROOT, SCOPE, STATE, TASK, WAIT, TraceIds

TASK_ENDS = {"TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed", "TaskCancelled",
              "MapRunSucceeded", "MapRunFailed", "MapRunAborted"}
_TASK_ERRORS = {"TaskFailed", "TaskTimedOut", "TaskSubmitFailed", "MapRunFailed"}
_EXECUTION_ENDS = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted",
                   "ExecutionStopped"}
_CALLBACK_MODES = {"WaitForCustomCallback", "WaitForSystemCallback"}


@dataclass(slots=True)
class SpanRecord:
    """A finished span, in terms that need no OpenTelemetry import."""

    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    start: float  # seconds since the epoch, as the history event's Time
    end: float
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    links: list[tuple[int, int]] = field(default_factory=list)  # (trace id, span id)


class ExecutionTrace:
    """The open spans of one execution, fed its history events in order."""

    def __init__(self, ids: TraceIds, execution_id: int) -> None:
        self.ids = ids
        self.execution_id = execution_id
        self.trace_id = ids.trace_id(execution_id)
        self.root_id = ids.span_id(execution_id, ROOT, 0)
        self.open: dict[tuple[str, str], SpanRecord] = {}  # started, not yet ended
        self.failed: dict[str, str] = {}  # step path → the error of a failure not retried (yet unexplained)
        self.last_event = 0
        self.ended = False

    def _span(self, kind: str, ref: int | str) -> int:
        return self.ids.span_id(self.execution_id, kind, ref)

    def _state_parent(self, path: str) -> int:
        """A state's parent: the branch or iteration that holds it, or the execution."""
        scope, sep, _ = path.rpartition("/")
        found = self.open.get((SCOPE, scope)) if sep else None
        return found.span_id if found is not None else self.root_id

    def _scope_parent(self, path: str) -> int:
        state = path.rpartition("/")[0]
        found = self.open.get((STATE, state))
        return found.span_id if found is not None else self.root_id

    def _opened(self, span_id: int, parent_id: int | None, name: str, start: float,
                attributes: dict[str, Any]) -> SpanRecord:
        return SpanRecord(name, self.trace_id, span_id, parent_id, start, start, attributes)

    def _close(self, key: tuple[str, str], end: float, out: list[SpanRecord] | None, error: str | None = None,
               **attributes: Any) -> SpanRecord | None:
        span = self.open.pop(key, None)
        if span is not None and out is not None:
            span.end, span.error = end, error
            if attributes:
                span.attributes.update(attributes)
            out.append(span)
        return span

    def apply(self, event_id: int, kind: str, step: str, time: float, schedule: int, detail: dict[str, Any],
              out: list[SpanRecord] | None) -> SpanRecord | None:
        """Take one event; finished spans go to ``out`` (None while replaying what was emitted
        elsewhere). Returns the root span when this event ended the execution."""
        self.last_event = event_id
        if self.ended:
            return None  # cancels recorded after the end belong to no open span
        if kind == "StepEntered":
            self.failed.pop(step, None)
            self.open[(STATE, step)] = self._opened(self._span(STATE, event_id), self._state_parent(step),
                                             step.rpartition("/")[2], time, {"stateway.step": step})
        elif kind == "StepExited":
            error = self.failed.pop(step, None)
            caught = "output" in detail
            self._close((STATE, step), time, out, None if caught else error)
        elif kind == "StepFailed":
            if detail.get("retry"):
                state = self.open.get((STATE, step))
                self.open[(BACKOFF, step)] = self._opened(self._span(BACKOFF, event_id),
                                                   state.span_id if state else self.root_id, "retry backoff", time,
                                                   {"stateway.step": step, "stateway.retry": detail["retry"]})
            else:
                self.failed[step] = str(detail.get("error") or "failed")
        elif kind == "TaskScheduled":
            self._close((BACKOFF, step), time, out)
            state = self.open.get((STATE, step))
            mode = detail.get("taskMode", "")
            attributes = {"stateway.step": step, "stateway.task_id": str(event_id)}
            if detail.get("action"):
                attributes["stateway.action"] = detail["action"]
            if mode:
                attributes["stateway.task_mode"] = mode
            self.open[(TASK, str(event_id))] = self._opened(self._span(TASK, event_id),
                                                     state.span_id if state else self.root_id,
                                                     f"task {detail.get('action') or step.rpartition('/')[2]}", time,
                                                     attributes)
        elif kind == "MapRunStarted":  # a distributed Map: its run is the task (its items link to this span)
            state = self.open.get((STATE, step))
            name = detail.get("mapRunName") or ""
            self.open[(TASK, str(event_id))] = self._opened(self._span(TASK, event_id),
                                                     state.span_id if state else self.root_id, "map run",
                                                     time, {"stateway.step": step, "stateway.task_id": str(event_id),
                                                            **({"stateway.map_run": name} if name else {})})
        elif kind == "TaskSubmitted":
            task = self.open.get((TASK, str(schedule)))
            if task is not None and task.attributes.get("stateway.task_mode") in _CALLBACK_MODES:
                self.open[(WAIT, str(schedule))] = self._opened(self._span(WAIT, schedule), task.span_id,
                                                         "wait for callback", time, {"stateway.step": step})
        elif kind in TASK_ENDS:
            error = str(detail.get("error") or kind) if kind in _TASK_ERRORS else None
            self._close((WAIT, str(schedule)), time, out, error)
            self._close((TASK, str(schedule)), time, out, error)
        elif kind in ("BranchEntered", "IterationEntered"):
            self.open[(SCOPE, step)] = self._opened(self._span(SCOPE, event_id), self._scope_parent(step),
                                             step.rpartition("/")[2], time, {"stateway.step": step})
        elif kind in ("BranchExited", "IterationExited"):
            self._close((SCOPE, step), time, out, str(detail["error"]) if detail.get("error") else None)
        elif kind == "ExecutionStarted":
            self.open[(ROOT, "")] = self._opened(self.root_id, None, "execution", time, {})
        elif kind in _EXECUTION_ENDS:
            self.ended = True
            root = self.open.pop((ROOT, ""), None)
            for key in list(self.open):  # what the end cut short (cancelled branches, open tasks)
                self._close(key, time, out, None, **{"stateway.cut_short": True})
            status = kind[len("Execution"):]
            return SpanRecord("execution", self.trace_id, self.root_id, None, root.start if root else time, time,
                              {"stateway.status": status},
                              None if status == "Succeeded" else str(detail.get("error") or status))
        return None

    def replay_outline(self, rows: list[tuple[Any, ...]], before: int,
                       details: dict[int, dict[str, Any]] | None = None) -> None:
        """Rebuild the open spans from the stored outline: (event_id, type, step, time, schedule, mark);
        ``details`` gives the detail of the events that have one worth reading (TaskScheduled)."""
        for event_id, kind, step, time, schedule, mark in rows:
            if event_id >= before:
                break
            detail: dict[str, Any] = (details or {}).get(int(event_id), {})
            if mark and not detail:  # see history_outline: a callback task, a retried failure, an exit with an output
                detail = {"TaskScheduled": {"taskMode": "WaitForCustomCallback"}, "StepFailed": {"retry": 1},
                          "StepExited": {"output": ""}}.get(kind, {})
            self.apply(int(event_id), kind, step or "", float(time), int(schedule or 0), detail, None)
