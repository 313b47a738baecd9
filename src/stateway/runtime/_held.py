"""Task results (and submissions of callback tasks) held in memory until the decision that
consumes them commits.

A synchronous task's result never goes through the inbox: the dispatcher hands it here, the loop
claims its execution at its next round (``claim_executions(also=...)``), decides it with the
execution's other due events and commits it in the batch. That commit is the result's one gate
(the task's open row is deleted there, or the whole batch fails ``ResultGateClosed``) and deletes
the outbox row the result came from. Until then the outbox row stays, claimed by this worker, so a
crash re-dispatches the command (at least once, with the same request id) and never loses a result.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HeldResult:
    outbox_id: int
    task_id: str
    event: dict[str, Any]  # the TaskResult's wire form, or a TaskSubmitted's
    gate: bool = True  # a result closes its task (the gate); a submission leaves it open for its callback


class HeldResults:
    """Thread-safe: dispatcher threads hold, the loop takes; what a round could not commit goes back
    before anything held since, so each execution's results keep their order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_execution: dict[int, list[HeldResult]] = {}

    def hold(self, execution_id: int, result: HeldResult) -> None:
        with self._lock:
            self._by_execution.setdefault(execution_id, []).append(result)

    def executions(self) -> list[int]:
        with self._lock:
            return list(self._by_execution)

    def take(self, execution_ids: list[int]) -> dict[int, list[HeldResult]]:
        with self._lock:
            return {x: self._by_execution.pop(x) for x in execution_ids if x in self._by_execution}

    def give_back(self, execution_id: int, results: list[HeldResult]) -> None:
        if results:
            with self._lock:
                self._by_execution[execution_id] = results + self._by_execution.get(execution_id, [])

    def __len__(self) -> int:
        with self._lock:
            return sum(map(len, self._by_execution.values()))
