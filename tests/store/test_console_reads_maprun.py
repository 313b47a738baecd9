"""The console's Map Run pages and history search (store.contract.ConsoleStore), on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from stateway.engine import Decision
from tests.store.test_contract import _started
from tests.store.test_versions_maprun_contract import run_record


def test_map_items_page_by_keyset_and_filter_by_status(store):
    store.create_map_run({**run_record("k", concurrency=100), "execution_id": 42},
                         [{"n": i, "name": f"item {i}"} for i in range(30)], [1] * 30)
    store.claim_map_items("k")
    for i in range(30):
        store.map_item_ended("k", i, i % 10 != 3, {"ok": i}, "Bad", f"item {i} failed")
    runs = store.map_runs_of(42)
    assert [r["name"] for r in runs] == ["k"] and runs[0]["counts"]["Failed"] == 3 and "definition" not in runs[0]
    assert store.map_runs_of(43) == []
    first = store.page_map_items("k", limit=10)
    assert [i["idx"] for i in first] == list(range(10)) and first[0]["input"] == '{"n":0,"name":"item 0"}'
    assert first[0]["input_chars"] == len(first[0]["input"])
    later = store.page_map_items("k", after=first[-1]["idx"], limit=10)
    assert [i["idx"] for i in later] == list(range(10, 20))
    earlier = store.page_map_items("k", before=later[0]["idx"], limit=4)
    assert [i["idx"] for i in earlier] == [6, 7, 8, 9]  # the page just before, still in index order
    failed = store.page_map_items("k", status="failed", limit=10)
    assert [(i["idx"], i["error"], i["cause"]) for i in failed] == [(3, "Bad", "item 3 failed"),
                                                                   (13, "Bad", "item 13 failed"),
                                                                   (23, "Bad", "item 23 failed")]
    assert store.page_map_items("k", status="failed", after=13) == [failed[-1]]


def _event(event_id: int, kind: str, step: str, **detail) -> dict:
    return {"EventId": event_id, "Type": kind, "StepName": step, "Time": time.time(), "ScheduleEventId": 0,
            "EventDetail": detail}


def test_history_search_by_type_state_and_text(store):
    execution_id = _started(store)
    now = time.time()
    store.claim_executions("w", now, 1, 30)
    history = [_event(1, "ExecutionStarted", "", input='{"order": "needle"}'), _event(2, "StepEntered", "Ask"),
               _event(3, "StepEntered", "Par/Ask"), _event(4, "StepExited", "Par/Ask", output="{}"),
               _event(5, "StepEntered", "Other")]
    store.commit(execution_id, [], Decision(state={}, history=history), now, [], owner="w", lease=30)
    ids = [e["EventId"] for e in store.search_history(execution_id, types=["StepEntered"])]
    assert ids == [2, 3, 5]
    assert [e["EventId"] for e in store.search_history(execution_id, step="Ask")] == [2, 3, 4]
    assert [e["EventId"] for e in store.search_history(execution_id, text="needle")] == [1]
    assert [e["EventId"] for e in store.search_history(execution_id, types=["StepEntered"], step="Ask",
                                                       after=2)] == [3]
    assert [e["EventId"] for e in store.search_history(execution_id, text="Exited")] == [4]
    assert store.search_history(execution_id + 1000, types=["StepEntered"]) == []


def test_task_logs_for_reads_only_the_given_tasks(store):
    execution_id = _started(store)
    now = time.time()
    for task in ("4", "9", "12"):
        store.put_task_log(execution_id, task, f"out {task}", f"err {task}", now)
    logs = store.task_logs_for(execution_id, ["9", "12", "77"])
    assert sorted((e["task_id"], e["stdout"], e["stderr"]) for e in logs) == [("12", "out 12", "err 12"),
                                                                            ("9", "out 9", "err 9")]
    assert store.task_logs_for(execution_id, []) == [] and store.task_logs_for(execution_id + 1, ["9"]) == []
