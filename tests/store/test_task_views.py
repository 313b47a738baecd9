"""Waiting tasks, current steps and function logs: the same answers from SQLite and PostgreSQL."""

from __future__ import annotations

import time

from stateway.engine import Decision
from tests.store.test_contract import _started


def _event(event_id: int, kind: str, step: str) -> dict:
    return {"EventId": event_id, "Type": kind, "StepName": step, "Time": time.time(), "ScheduleEventId": 0,
            "EventDetail": {}}


def test_open_tasks_current_steps_and_logs(store):
    execution_id = _started(store)
    now = time.time()
    store.claim_executions("w", now, 1, 30)
    history = [_event(1, "ExecutionStarted", ""), _event(2, "StepEntered", "Par"), _event(3, "StepEntered", "Par/A"),
               _event(4, "StepEntered", "Done"), _event(5, "StepExited", "Done"), _event(6, "TaskScheduled", "Par/A")]
    store.commit(execution_id, [], Decision(state={}, history=history, opened_tasks=[
        {"task": "6", "token": "tok", "state": "A", "step": "Par/A", "action": "MNS:SendMessage",
         "mode": "WaitForCustomCallback"}]), now, [], owner="w", lease=30)
    assert store.current_steps(execution_id) == ["Par", "Par/A"]
    tasks = store.open_tasks_of("f")
    assert [(t["execution_name"], t["step"], t["token"], t["task_id"]) for t in tasks] == [("e1", "Par/A", "tok", "6")]
    assert store.open_tasks_of("other") == [] and len(store.open_tasks_of()) == 1
    store.put_task_log(execution_id, "6", "out\x00put", "err", now)
    store.put_task_log(execution_id, "6", "output", "error", now)  # a redelivery replaces, never doubles
    assert [(e["task_id"], e["step"], e["stdout"], e["stderr"]) for e in store.task_logs(execution_id)] == [
        ("6", "Par/A", "output", "error")]
