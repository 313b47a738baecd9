"""A synchronous task's result goes into the decision batch that consumes it: no inbox row, no
separate completion transaction, the outbox row deleted in the same commit. Its open task is still
the one gate (a second report loses), and a result not yet committed is never lost: its outbox row
stays, so the command is dispatched again."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor, Future
from typing import ClassVar

import pytest

from stateway.engine.messages import TaskResult
from stateway.runtime import Completed, Integration, IntegrationRegistry, Runtime, TaskAlreadyCompleted, TaskCall
from stateway.runtime._held import HeldResult
from stateway.settings import Settings
from stateway.store import SQLiteStore

STEPS = """Type: StateMachine
SpecVersion: v1
Name: steps
StartAt: A
States:
  - {Type: Task, Name: A, Action: "Test:Echo", TaskMode: RequestComplete, Next: B}
  - {Type: Task, Name: B, Action: "Test:Echo", TaskMode: RequestComplete, End: true}
"""


class Echo(Integration):
    action: ClassVar[str] = "Test:Echo"
    modes: ClassVar[frozenset[str]] = frozenset({"RequestComplete"})
    calls: ClassVar[list[str]] = []
    gate: ClassVar[threading.Event | None] = None

    def invoke(self, call: TaskCall) -> Completed:
        Echo.calls.append(call.step)
        if Echo.gate is not None:
            Echo.gate.wait(30)
        return Completed({"step": call.step})


@pytest.fixture(autouse=True)
def _reset():
    Echo.calls, Echo.gate = [], None


class _Nowhere(Executor):
    """A dispatcher that never runs what it is given (the process died before it could)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        return Future()


def _runtime(store: SQLiteStore, dispatch: Executor | None = None) -> Runtime:
    rt = Runtime(store, registry=IntegrationRegistry.default([Echo]), settings=Settings.from_config({}),
                 dispatch=dispatch)
    rt.register_flow("steps", STEPS)
    return rt


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_results_are_committed_with_their_decision_not_through_complete_task(tmp_path):
    store = SQLiteStore(str(tmp_path / "s.db"))
    completions = []
    real = store.complete_task
    store.complete_task = lambda *a, **k: completions.append(a) or real(*a, **k)  # type: ignore[method-assign]
    with _runtime(store) as rt:
        row = rt.start_execution("steps", {})
        ended = rt.wait(row.id, 30)
    assert ended.status == "Succeeded" and ended.output == {"step": "B"}
    assert Echo.calls == ["A", "B"]
    assert completions == []  # no separate transaction per result
    assert store.pending_outbox() == [] and store.open_tasks() == [] and store.next_due() is None
    assert [e["Type"] for e in store.history(row.id)].count("TaskSucceeded") == 2


def test_a_held_result_loses_to_a_report_that_came_first(tmp_path):
    """The open task is the gate: the held result finds it gone, is dropped, and the execution goes
    on with the other report's output; reporting again is TaskAlreadyCompleted."""
    store = SQLiteStore(str(tmp_path / "s.db"))
    Echo.gate = threading.Event()
    with _runtime(store) as rt:
        row = rt.start_execution("steps", {})
        _wait(lambda: Echo.calls == ["A"])
        task = store.open_tasks(row.id)[0]
        # the other report wins the gate while the function still runs
        assert rt.complete_task(row.id, task["task_id"], TaskResult.success(task["task_id"], {"step": "report"}))
        with pytest.raises(TaskAlreadyCompleted):
            rt.report_success(task["token"], {"step": "again"})
        Echo.gate.set()
        ended = rt.wait(row.id, 30)
    assert ended.status == "Succeeded", ended
    succeeded = [e for e in store.history(row.id) if e["Type"] == "TaskSucceeded"]
    assert Echo.calls == ["A", "B"]
    assert store.pending_outbox() == [] and len(rt.held) == 0
    assert len(succeeded) == 2 and "report" in str(succeeded[0]["EventDetail"])


def test_a_result_not_yet_committed_is_dispatched_again_after_a_restart(tmp_path):
    path = str(tmp_path / "s.db")
    store = SQLiteStore(path)
    rt = _runtime(store, _Nowhere())
    row = rt.start_execution("steps", {})
    claimed = store.claim_executions(rt.owner, time.time(), 10, 30.0)
    rt.process_batch(claimed)  # A is scheduled: its outbox row is written
    [(outbox_id, _, command)] = store.pending_outbox()
    # the dispatcher ran it and held the result; the process dies before the loop commits it
    rt.held.hold(row.id, HeldResult(outbox_id, command["task"], TaskResult.success(command["task"], {}).to_wire()))
    rt.close()
    store.close()
    store = SQLiteStore(path)
    with _runtime(store) as again:
        ended = again.wait(row.id, 30)
    assert ended.status == "Succeeded"
    assert Echo.calls == ["A", "B"]  # A ran again (at least once), from its outbox row
    assert store.pending_outbox() == []
