"""What happened to each state of one execution, read from its history (never from the engine).

A *visit* is one entry into a state (a loop enters a state several times, a Map item enters its
iterator's states once per item); each visit has a status, its attempts and retries, and the
times it started and ended. A graph *node* (path with Map indices dropped) sums its visits.

History only grows, so a reader keeps its place and reads only the events after it: a page of
a 25,000-event execution, or its live refresh every second, reads the new events, not all of them.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ITEM_INDEX = re.compile(r"/Item\[\d+\]")
# a node shows the most pressing thing that happened to any of its visits
PRIORITY = ("waiting", "running", "failed", "caught", "cancelled", "succeeded")
_TASK_ENDS = frozenset({"TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed"})


def node_path(step_name: str) -> str:
    return ITEM_INDEX.sub("/Item", step_name) if "/Item[" in step_name else step_name


@dataclass(slots=True)
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


class ProgressReader:
    """Folds outline rows (event_id, type, step_name, time, schedule_event_id, mark) into visits;
    see ``store.history_outline`` for the mark."""

    def __init__(self) -> None:
        self.last_event = 0
        self.visits: list[Visit] = []
        self.current: dict[str, Visit] = {}
        self.started: float | None = None
        self.ended: float | None = None

    def feed(self, outline: Iterable[tuple[Any, ...]]) -> None:
        visits, current = self.visits, self.current
        for event_id, kind, step, at, _schedule, mark in outline:
            self.last_event = event_id
            if kind == "StepEntered":
                visit = Visit(step, at, event_id)
                visit.events.append(event_id)
                visits.append(visit)
                current[step] = visit
                continue
            visit = current.get(step) if step else None
            if visit is None:
                if kind == "ExecutionStarted":
                    self.started = at
                elif kind.startswith("Execution"):
                    self.ended = at
                    for left in current.values():
                        if left.status in ("running", "waiting"):
                            left.status, left.exited = "cancelled", at
                    current.clear()
                continue  # branch and iteration events, or a cancel result after the end
            visit.events.append(event_id)
            if kind == "StepExited":
                # an exit after a failure carries an output only when a Catch took it
                visit.status = ("caught" if mark else "failed") if visit.status == "failed" else "succeeded"
                visit.exited = at
                del current[step]
                if current:
                    inner = step + "/"  # a Parallel or Map that ended leaves nothing running inside it
                    for other in [s for s in current if s.startswith(inner)]:
                        left = current.pop(other)
                        if left.status in ("running", "waiting"):
                            left.status, left.exited = "cancelled", at
            elif kind == "TaskScheduled":
                visit.attempts += 1
                visit.status = "waiting" if mark else "running"
            elif kind in _TASK_ENDS:
                visit.status = "running"
            elif kind == "TaskCancelRequested":
                visit.status, visit.exited = "cancelled", at
            elif kind == "StepFailed":
                if mark:
                    visit.retries.append(at)
                    visit.status = "running"
                else:
                    visit.status = "failed"

    def progress(self) -> Progress:
        nodes: dict[str, dict[str, Any]] = {}
        for visit in self.visits:
            path = node_path(visit.step)
            node = nodes.get(path)
            if node is None:
                node = nodes[path] = {"counts": dict.fromkeys(PRIORITY, 0), "attempts": 0}
            node["counts"][visit.status] += 1
            node["attempts"] += visit.attempts
        for node in nodes.values():
            node["status"] = next(s for s in PRIORITY if node["counts"][s])
        return Progress(list(self.visits), nodes, self.started, self.ended)


def read_progress(outline: Iterable[tuple[Any, ...]]) -> Progress:
    reader = ProgressReader()
    reader.feed(outline)
    return reader.progress()


class ProgressCache:
    """A reader per recently viewed execution, fed with the events written since it last looked."""

    def __init__(self, size: int = 64) -> None:
        self._readers: OrderedDict[int, ProgressReader] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def get(self, execution_id: int, outline_after: Callable[[int, int], list[tuple[Any, ...]]]) -> Progress:
        with self._lock:
            reader = self._readers.pop(execution_id, None) or ProgressReader()
            self._readers[execution_id] = reader
            while len(self._readers) > self.size:
                self._readers.popitem(last=False)
            reader.feed(outline_after(execution_id, reader.last_event))
            return reader.progress()
