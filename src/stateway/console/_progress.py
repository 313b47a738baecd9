"""What happened to each state of one execution, read from its history (never from the engine).

A *visit* is one entry into a state (a loop enters a state several times, a Map item enters its
iterator's states once per item); each visit has a status, its attempts and retries, and the
times it started and ended. A graph *node* (path with Map indices dropped) sums its visits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ITEM_INDEX = re.compile(r"/Item\[\d+\]")
# a node shows the most pressing thing that happened to any of its visits
PRIORITY = ("waiting", "running", "failed", "caught", "cancelled", "succeeded")


def node_path(step_name: str) -> str:
    return ITEM_INDEX.sub("/Item", step_name)


@dataclass
class Visit:
    step: str
    entered: float
    entered_event: int
    status: str = "running"
    exited: float | None = None
    attempts: int = 0
    retries: list[float] = field(default_factory=list)  # times of failed attempts that were retried
    events: list[int] = field(default_factory=list)  # the event ids that belong to this visit


@dataclass
class Progress:
    visits: list[Visit]
    nodes: dict[str, dict[str, Any]]
    started: float | None
    ended: float | None


def read_progress(outline: list[tuple[Any, ...]]) -> Progress:
    """``outline`` rows: (event_id, type, step_name, time, schedule_event_id, mark), see store.history_outline."""
    visits: list[Visit] = []
    current: dict[str, Visit] = {}
    started = ended = None
    for event_id, kind, step, at, _schedule, mark in outline:
        if kind == "ExecutionStarted":
            started = at
            continue
        if kind.startswith("Execution"):
            ended = at
            for visit in current.values():
                if visit.status in ("running", "waiting"):
                    visit.status = "cancelled"
                    visit.exited = at
            current.clear()
            continue
        if kind == "StepEntered":
            visit = Visit(step, at, event_id)
            visits.append(visit)
            current[step] = visit
            visit.events.append(event_id)
            continue
        visit = current.get(step)
        if visit is None:
            continue  # branch and iteration events, or a cancel result after the end
        visit.events.append(event_id)
        if kind == "TaskScheduled":
            visit.attempts += 1
            visit.status = "waiting" if mark == "WaitForCustomCallback" else "running"
        elif kind in ("TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed"):
            visit.status = "running"
        elif kind == "TaskCancelRequested":
            visit.status = "cancelled"
            visit.exited = at
        elif kind == "StepFailed":
            if mark is not None:
                visit.retries.append(at)
                visit.status = "running"
            else:
                visit.status = "failed"
        elif kind == "StepExited":
            visit.status = "caught" if mark is not None else ("failed" if visit.status == "failed" else "succeeded")
            visit.exited = at
            current.pop(step, None)
            inner = step + "/"  # a Parallel or Map that ended leaves nothing running inside it
            for other in [s for s in current if s.startswith(inner)]:
                left = current.pop(other)
                if left.status in ("running", "waiting"):
                    left.status, left.exited = "cancelled", at
    nodes: dict[str, dict[str, Any]] = {}
    for visit in visits:
        node = nodes.setdefault(node_path(visit.step), {"counts": dict.fromkeys(PRIORITY, 0)})
        node["counts"][visit.status] += 1
    for node in nodes.values():
        node["status"] = next(s for s in PRIORITY if node["counts"][s])
    return Progress(visits, nodes, started, ended)
