"""The console's paged reads (store.contract.ConsoleStore), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time

from stateway.engine import Decision

FLOW = "Type: StateMachine\nName: f\nSteps: []\n"


def _event(event_id: int, kind: str, step: str, **detail) -> dict:
    return {"EventId": event_id, "Type": kind, "StepName": step, "Time": 1000.0 + event_id, "ScheduleEventId": 0,
            "EventDetail": detail}


def test_executions_page_newest_first_with_every_filter_and_keyset_paging(store):
    for flow in ("alpha", "beta", "gamma"):
        store.put_flow(flow, FLOW, {}, replace=False)
    ids = {}
    for i in range(30):
        flow = ("alpha", "beta", "gamma")[i % 3]
        row, _ = store.create_execution(flow, f"{'x' if i % 2 else 'y'}-{i:02d}", {}, 5000.0 + i)
        ids[row.name] = row.id
        if i % 5 == 0:
            store.commit(row.id, [], Decision(state={}, ended={"status": "Failed", "output": None, "error": "E",
                                                               "cause": "c"}), 6000.0, [])
    page = store.page_executions(limit=10)
    assert [r["name"] for r in page] == [f"{'x' if i % 2 else 'y'}-{i:02d}" for i in range(29, 19, -1)]
    assert set(page[0]) == {"id", "flow_name", "name", "status", "started", "stopped", "error", "cause", "parent_id"}
    older = store.page_executions(before_id=page[-1]["id"], limit=10)
    assert older[0]["name"] == "x-19" and len(older) == 10
    newer = store.page_executions(after_id=older[0]["id"], limit=10)
    assert [r["name"] for r in newer] == [r["name"] for r in page], "the newer page, still newest first"
    assert [r["name"] for r in store.page_executions(status="Failed")] == ["x-25", "y-20", "x-15", "y-10", "x-05",
                                                                           "y-00"]
    assert {r["flow_name"] for r in store.page_executions(flow_name="beta")} == {"beta"}
    assert [r["name"] for r in store.page_executions(flow_name="beta", status="Failed")] == ["x-25", "y-10"]
    assert [r["name"] for r in store.page_executions(name_prefix="x-1")] == [f"x-{i}" for i in (19, 17, 15, 13, 11)]
    assert [r["name"] for r in store.page_executions(started_from=5027.0, started_to=5028.0)] == ["y-28", "x-27"]
    assert store.page_executions(name_prefix="nobody") == []


def test_children_by_parent_and_flows_by_search(store):
    store.put_flow("Orders", FLOW, {"ExecutionMode": "Express"}, replace=False)
    store.put_flow("billing", FLOW, {}, replace=False)
    parent, _ = store.create_execution("billing", "p", {}, time.time())
    store.create_execution("Orders", "c1", {}, time.time(), parent_id=parent.id, parent_task="3")
    assert [r["name"] for r in store.page_executions(parent_id=parent.id)] == ["c1"]
    flows, total = store.page_flows("ORD")
    assert total == 1 and flows[0]["name"] == "Orders" and flows[0]["meta"]["ExecutionMode"] == "Express"
    assert "definition" not in flows[0]
    flows, total = store.page_flows("", offset=1, limit=1)
    assert total == 2 and [f["name"] for f in flows] == sorted(["Orders", "billing"])[1:]


def test_history_outline_marks_callbacks_retries_and_catches(store):
    store.put_flow("f", FLOW, {}, replace=False)
    row, _ = store.create_execution("f", "e", {}, time.time())
    history = [
        _event(1, "ExecutionStarted", ""),
        _event(2, "StepEntered", "Ask", input="{}"),
        _event(3, "TaskScheduled", "Ask", action="MNS:SendMessage", taskMode="WaitForCustomCallback",
               parameters=json.dumps({"taskMode": "RequestComplete", "note": ',"caught":1'})),
        _event(4, "StepFailed", "Ask", error="E", cause=',"retry":', retry=1, delaySeconds=1),
        _event(5, "TaskScheduled", "Ask", action="X", taskMode="RequestComplete",
               parameters=json.dumps({"taskMode": "WaitForCustomCallback"}, separators=(",", ":"))),
        _event(6, "StepFailed", "Ask", error="E", cause="c"),
        _event(7, "StepExited", "Ask", output="{}", caught="E"),
        _event(8, "StepExited", "Other", output=json.dumps({"caught": "not really"})),
        _event(9, "StepExited", "Fail"),
    ]
    store.commit(row.id, [], Decision(state={}, history=history), time.time(), [])
    outline = store.history_outline(row.id)
    assert [tuple(r[:3]) + (r[5],) for r in outline] == [
        (1, "ExecutionStarted", "", 0), (2, "StepEntered", "Ask", 0), (3, "TaskScheduled", "Ask", 1),
        (4, "StepFailed", "Ask", 1), (5, "TaskScheduled", "Ask", 0), (6, "StepFailed", "Ask", 0),
        (7, "StepExited", "Ask", 1), (8, "StepExited", "Other", 1), (9, "StepExited", "Fail", 0)]
    assert [r[0] for r in store.history_outline(row.id, after=6)] == [7, 8, 9]
    assert store.history_count(row.id) == 9
    events = store.history_events(row.id, [3, 7])
    assert [e["EventId"] for e in events] == [3, 7] and events[1]["EventDetail"]["caught"] == "E"
    assert store.history_events(row.id, []) == []
