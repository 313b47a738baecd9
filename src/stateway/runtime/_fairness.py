"""Turns: how the loop shares itself between executions, and what ends a poisoned one.

A decision is bounded (``decision_events``, ``decision_bytes``, ``DECISION_SECONDS``); an
execution that used its whole budget *yields* and is "continuing". Each round of the loop runs
every execution with fresh work (a start, a task result, a timer, a stop) first, then one turn
of one continuing execution, oldest turn first. A continuing turn is also cut short, within a
few dozen events, as soon as fresh work arrives (``Runtime.notify``). So endless loops cost a new
execution a few dozen events of waiting, and each loop still gets a turn every round.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stateway.engine import STATE_VERSION, Decision
from stateway.engine._errors import RUNTIME_ERROR

DECISION_SECONDS = 0.015  # the wall-clock part of a decision's budget
CAUSE_LIMIT = 4096


class Turns:
    def __init__(self) -> None:
        self.continuing: dict[int, None] = {}  # insertion-ordered set
        self.fresh_work = False  # set by Runtime.notify: something new is waiting in the inbox

    def this_round(self, due: list[int]) -> list[int]:
        """``due`` comes oldest inbox row first, so the first continuing one waited longest."""
        fresh = [e for e in due if e not in self.continuing]
        waiting = [e for e in due if e in self.continuing]
        return fresh + waiting[:1]

    def record(self, execution_id: int, decision: Decision | None) -> None:
        if decision is not None and decision.yielded:
            self.continuing[execution_id] = None
        else:
            self.continuing.pop(execution_id, None)

    def should_yield(self, execution_id: int) -> Callable[[], bool]:
        """For one turn: time's up, or (for a continuing execution) fresh work is waiting."""
        deadline = time.monotonic() + DECISION_SECONDS
        if execution_id not in self.continuing:
            return lambda: time.monotonic() > deadline
        return lambda: self.fresh_work or time.monotonic() > deadline


def is_transient(exc: BaseException) -> bool:
    """The store could not be reached or was busy: not the execution's fault, so it is retried."""
    return type(exc).__name__ in ("OperationalError", "InterfaceError")


def poison_decision(state: dict[str, Any], exc: BaseException, now: float) -> Decision:
    """The execution ends Failed with ``FnF.RuntimeError`` naming the exception. Built from the state
    as the store last had it (so it can be written), with every frame and timer dropped."""
    cause = f"an unexpected error while running this execution: {type(exc).__name__}: {exc}"[:CAUSE_LIMIT]
    event_id = int(state.get("event_id", 0)) + 1
    # with every frame, timer and task dropped, what is left reads at this version, even if the state
    # came from a newer Stateway (StateVersionError): later events (a cancel's result) can still be recorded
    ended_state = {**state, "version": STATE_VERSION, "status": "Failed", "event_id": event_id, "frames": {},
                   "timers": {}, "tasks": {}, "ready": []}
    history = [{"EventId": event_id, "Type": "ExecutionFailed", "StepName": "", "Time": now, "ScheduleEventId": 0,
                "EventDetail": {"error": RUNTIME_ERROR, "cause": cause}}]
    return Decision(state=ended_state, history=history,
                    ended={"status": "Failed", "output": None, "error": RUNTIME_ERROR, "cause": cause})
