"""Concurrency limits: a flow's Running executions never exceed its cap, waiting ones start as
``Starting`` and are admitted fairly across keys, a waiting execution can be stopped, and what a
flow without a limit does is unchanged."""

from __future__ import annotations

import threading
import time

import pytest

from stateway.app import Stateway
from stateway.runtime import InvalidArgument, TaskAlreadyCompleted
from stateway.runtime import _metrics as metrics

CALLBACK = """Type: StateMachine
SpecVersion: v1
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 600
    Parameters:
      resourceArn: acs:mns:::/queues/q/messages
      message: {token.$: $Context.Current.TaskToken}
    End: true
"""
QUICK = "Type: StateMachine\nSpecVersion: v1\nStartAt: P\nStates:\n  - {Type: Pass, Name: P, End: true}\n"


@pytest.fixture
def sw(tmp_path):
    with Stateway.open(f"sqlite:///{tmp_path / 'l.db'}") as app:
        yield app


def until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def running_count(sw, flow):
    with sw.store._read() as db:
        return db.execute("SELECT COUNT(*) FROM executions WHERE flow_name=? AND status='Running'",
                          (flow,)).fetchone()[0]


def answer(sw, row):
    for task in sw.store.open_tasks(row.id):
        try:
            sw.runtime.report_success(task["token"], {})
        except TaskAlreadyCompleted:
            pass


def test_200_starts_over_4_keys_never_exceed_5_running_and_keys_take_turns(sw):
    sw.flows.create("lim", CALLBACK)
    sw.flows.set_limit("lim", 5, "$Input.c")
    # one busy customer first: all of a's executions arrive before b's, c's and d's
    rows = [sw.executions.start("lim", {"c": key}, f"{key}-{i}") for key in "abcd" for i in range(50)]
    assert sum(r.status == "Running" for r in rows) == 5 and sum(r.status == "Starting" for r in rows) == 195
    samples, stop = [], threading.Event()

    def sample():  # the table itself, while it runs
        while not stop.is_set():
            samples.append(running_count(sw, "lim"))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    order, seen = [], set()
    deadline = time.monotonic() + 120
    try:
        while len(seen) < 200 or running_count(sw, "lim"):
            assert time.monotonic() < deadline, f"stuck after {len(seen)} admitted"
            running = sw.store.list_executions("lim", status="Running", with_state=False)
            for row in running:
                if row.id not in seen:
                    seen.add(row.id)
                    order.append(row.input["c"])
            for row in running:
                answer(sw, row)
            time.sleep(0.01)
    finally:
        stop.set()
        sampler.join()
    assert max(samples) <= 5 and len(samples) > 10
    assert all(sw.store.execution_status(r.id) == "Succeeded" for r in rows)
    # served in turn: beyond the first 5 (a's, when nothing else waited), every 20 admissions in a
    # row give each key at least 3 (first come, first served would give a all of its 50 first)
    assert order[:5] == ["a"] * 5
    for start in range(5, 150):
        window = order[start:start + 20]
        assert min(window.count(k) for k in "abcd") >= 3, (start, "".join(order))


def test_a_waiting_execution_is_listed_counted_and_stopped_without_running(sw):
    sw.flows.create("lim", CALLBACK)
    sw.flows.set_limit("lim", 1)
    first = sw.executions.start("lim", {}, "first")
    waiting = sw.executions.start("lim", {}, "waiting")
    assert (first.status, waiting.status) == ("Running", "Starting")
    assert [r.name for r in sw.store.list_executions("lim", status="Starting")] == ["waiting"]
    assert sw.runtime.admission.admit() == 0
    assert metrics.WAITING_EXECUTIONS.labels("lim")._value.get() == 1
    sw.executions.stop("lim", "waiting", "Why", "not needed")
    row = sw.executions.wait(waiting, 10)
    assert (row.status, row.error) == ("Stopped", "Why")
    assert "ExecutionStarted" not in [e["Type"] for e in sw.store.history(row.id)]
    assert sw.store.open_tasks(row.id) == []
    until(lambda: sw.runtime.admission.admit() == 0 and not sw.store.waiting_executions())
    assert metrics.WAITING_EXECUTIONS.labels("lim")._value.get() == 0
    answer(sw, until(lambda: sw.store.open_tasks(first.id) and first))
    assert sw.executions.wait(first, 10).status == "Succeeded"


def test_a_slot_freed_admits_the_next_and_raising_or_clearing_the_limit_admits_more(sw):
    sw.flows.create("lim", CALLBACK)
    sw.flows.set_limit("lim", 2)
    rows = [sw.executions.start("lim", {}, f"e{i}") for i in range(6)]
    assert [r.status for r in rows] == ["Running"] * 2 + ["Starting"] * 4
    answer(sw, until(lambda: sw.store.open_tasks(rows[0].id) and rows[0]))
    until(lambda: sw.store.execution_status(rows[2].id) == "Running")  # FIFO within the one key
    assert sw.store.execution_status(rows[3].id) == "Starting"
    sw.flows.set_limit("lim", 3)
    until(lambda: sw.store.execution_status(rows[3].id) == "Running")
    assert running_count(sw, "lim") == 3
    assert sw.flows.set_limit("lim", 0) is None  # no limit: the rest start
    until(lambda: running_count(sw, "lim") == 5)
    assert sw.flows.limit("lim") is None


def test_a_flow_without_a_limit_starts_running_and_limits_are_checked(sw):
    sw.flows.create("free", QUICK)
    row = sw.executions.start("free", {}, "x")
    assert row.status == "Running"
    assert sw.executions.wait(row, 10).status == "Succeeded"
    assert sw.store.waiting_executions() == {}
    for bad in ({"max_running": -1}, {"max_running": "5"}, {"key": "$Input.("}, {"starts_per_second": -2}):
        with pytest.raises(InvalidArgument):
            sw.flows.set_limit("free", **{"max_running": 1, **bad})
    assert sw.flows.limit("free") is None


def test_starts_per_second_paces_admissions(sw):
    sw.flows.create("paced", QUICK)
    sw.flows.set_limit("paced", None, starts_per_second=20)
    began = time.monotonic()
    rows = [sw.executions.start("paced", {}, f"p{i}") for i in range(12)]
    assert [r.status for r in rows[:2]] == ["Running", "Running"]  # 0.1 s of credit: 2 at once
    assert all(sw.executions.wait(r, 30).status == "Succeeded" for r in rows)
    assert time.monotonic() - began >= 0.4  # 12 at 20 a second, 2 at once: at least half a second


def test_children_count_against_their_own_flows_limit(sw):
    parent = """Type: StateMachine
SpecVersion: v1
StartAt: Each
States:
  - Type: Map
    Name: Each
    ItemsPath: $Input.items
    Processor:
      StartAt: Child
      States:
        - Type: Task
          Name: Child
          Action: FNF:StartExecution
          TaskMode: WaitForSystemCallback
          Parameters: {resourceArn: "acs:fnf:::flow/child", input: {}}
          End: true
    End: true
"""
    sw.flows.create("child", CALLBACK)
    sw.flows.create("parent", parent)
    sw.flows.set_limit("child", 2)
    row = sw.executions.start("parent", {"items": list(range(5))}, "p")
    until(lambda: len(sw.store.list_executions("child")) == 5)
    assert running_count(sw, "child") == 2 and running_count(sw, "parent") == 1
    while sw.store.execution_status(row.id) == "Running":
        assert running_count(sw, "child") <= 2
        for child in sw.store.list_executions("child", status="Running", with_state=False):
            answer(sw, child)
        time.sleep(0.02)
    assert sw.store.execution_status(row.id) == "Succeeded"


def test_a_bulk_stop_ends_waiting_executions_without_running_them(sw):
    from stateway.app.bulk import BulkFilter

    sw.flows.create("lim", CALLBACK)
    sw.flows.set_limit("lim", 2)
    rows = [sw.executions.start("lim", {}, f"e{i}") for i in range(10)]
    job = sw.bulk.wait(sw.bulk.start("stop", BulkFilter("lim"))["id"], 60)
    assert (job["status"], job["n_done"]) == ("Succeeded", 10)
    until(lambda: all(sw.store.execution_status(r.id) == "Stopped" for r in rows))
    ran = [r.name for r in rows if "ExecutionStarted" in [e["Type"] for e in sw.store.history(r.id)]]
    assert ran == ["e0", "e1"]  # only those admitted before the stop
    assert sw.store.waiting_executions() == {}
