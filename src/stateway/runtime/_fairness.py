"""Turns: how the loop shares itself between executions, and what ends a poisoned one.

A decision is bounded (``decision_events``, ``decision_bytes``, ``DECISION_SECONDS``); an
execution that used its whole budget *yields* and is "continuing". Each round of the loop runs
every execution with fresh work (a start, a task result, a timer, a stop) first, then one turn
of one continuing execution, oldest turn first. A continuing turn is also cut short, within a
few dozen events, as soon as fresh work arrives (``Runtime.notify``). So endless loops cost a new
execution a few dozen events of waiting, and each loop still gets a turn every round.

A round whose commits ended an execution hands over before its continuing turn (``HANDOFF_SECONDS``):
the threads those ends woke (a ``Runtime.wait``, a long poll) run while the loop waits, until they bring
fresh work (``notify``) or the hand-over times out. Without it a continuing turn, pure Python holding the
GIL for its whole budget, began while they were still waking: CPython lets a waiting thread in only
every switch interval (5 ms), and each of its SQLite calls gave the GIL back to the loop. A thread that
starts the next execution reached ``notify`` (which cuts the turn short) only after a turn or two of
1,000 events: 5-10 ms where the start alone takes one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stateway.engine import STATE_VERSION, Decision
from stateway.engine._errors import RUNTIME_ERROR

DECISION_SECONDS = 0.015  # the wall-clock part of a decision's budget
HANDOFF_SECONDS = 0.002  # the longest a continuing turn waits for what the threads an end woke do next
CAUSE_LIMIT = 4096


class Turns:
    def __init__(self) -> None:
        self.continuing: dict[int, None] = {}  # insertion-ordered set: the next turn's first
        self.fresh_work = False  # set by Runtime.notify: something new is waiting in the inbox
        self.handoff_seconds = HANDOFF_SECONDS

    def this_round(self, due: list[int]) -> list[int]:
        """Every fresh one, and the continuing one whose last turn is oldest. Not the first by inbox row:
        a streak kept in memory keeps the "continue" row it began with (``_continuing.py``), the oldest
        row of all, and would take every turn while the others waited for its checkpoint."""
        fresh = [e for e in due if e not in self.continuing]
        waiting = set(due) - set(fresh)
        return fresh + next(([e] for e in self.continuing if e in waiting), [])

    @staticmethod
    def hand_over(fresh: dict[int, Decision | None], continuing: list[int]) -> bool:
        """Whether the loop lets the threads this round's ends woke run before its continuing turn."""
        return bool(continuing) and any(d is not None and d.ended is not None for d in fresh.values())

    def record(self, execution_id: int, decision: Decision | None) -> None:
        if decision is not None and decision.yielded:
            self.continuing.pop(execution_id, None)  # to the back of the line: the others' turns come first
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
