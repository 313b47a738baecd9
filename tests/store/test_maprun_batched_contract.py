"""A Map Run's child ends recorded many at a time (``map_items_ended``): each end once, the
tolerance checked as if each end came alone, freed slots refilled with children created in the
same transaction. The same on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from stateway.store import tolerance_exceeded
from tests.store.test_versions_maprun_contract import FLOW, run_record


def children(store, run):
    return {r.name: r for r in store.list_executions("f", map_run=run)}


def test_the_refill_creates_children_with_their_start_event_and_context(store):
    store.put_flow("f", FLOW, {}, replace=False)
    store.create_map_run({**run_record("b", concurrency=3), "globals": '{"unit": "kg"}'},
                         [{"n": i} for i in range(7)], [1] * 7)
    run, started, waiting = store.map_items_ended("b", [], time.time())
    assert (started, waiting) == (3, 0) and run["counts"]["Running"] == 3 and run["counts"]["Pending"] == 4
    made = children(store, "b")
    assert sorted(made) == ["b-0", "b-1", "b-2"]
    child = made["b-1"]
    assert (child.status, child.callback_token, child.parent_id, child.parent_task) == ("Running", "maprun:b:1", 1, "7")
    assert child.input == {"n": 1} and child.definition == FLOW
    assert child.state["map"] == {"Item": {"Index": 1, "Value": {"n": 1}}, "RunName": "b"}
    assert child.state["globals"] == {"unit": "kg"} and child.state["name"] == "b-1"
    assert [e["type"] for _, e in store.due_events(child.id, time.time())] == ["start"]
    assert store.get_map_run("b")["counts"] == run["counts"]  # what it returned is what it stored


def test_ends_are_recorded_once_and_free_their_slots(store):
    store.put_flow("f", FLOW, {}, replace=False)
    store.create_map_run(run_record("b", concurrency=3, count=5), [{"n": i} for i in range(7)], [1] * 7)
    store.map_items_ended("b", [], time.time())
    ends = [(0, True, {"v": 0}, "", ""), (1, False, None, "E", "c"), (0, True, {"v": 0}, "", ""),
            (6, True, {"v": 6}, "", "")]  # a repeated report, and an item that is not running
    run, started, _ = store.map_items_ended("b", ends, time.time())
    assert started == 2 and sorted(children(store, "b")) == [f"b-{i}" for i in range(5)]
    assert run["counts"] == {"Pending": 2, "Running": 3, "Succeed": 1, "Failed": 1, "Aborted": 0, "Total": 7}
    assert store.get_map_run("b")["counts"] == run["counts"]
    again, started, _ = store.map_items_ended("b", ends[:2], time.time())
    assert started == 0 and again["counts"] == run["counts"]
    records = {i: (status, out, err) for i, status, _, out, err, _ in store.map_run_records("b")}
    assert records[0] == ("succeeded", {"v": 0}, None) and records[1] == ("failed", None, "E")


def test_no_end_is_recorded_after_the_one_that_exceeds_the_tolerance(store):
    store.put_flow("f", FLOW, {}, replace=False)
    store.create_map_run(run_record("t", concurrency=4, count=1), [{"n": i} for i in range(6)], [1] * 6)
    store.map_items_ended("t", [], time.time())
    ends = [(0, False, None, "E", "0"), (1, True, {}, "", ""), (2, False, None, "E", "2"), (3, False, None, "E", "3")]
    run, started, _ = store.map_items_ended("t", ends, time.time())
    assert tolerance_exceeded(run) and started == 0  # the second failure exceeds it: nothing more starts
    assert run["counts"] == {"Pending": 2, "Running": 1, "Succeed": 1, "Failed": 2, "Aborted": 0, "Total": 6}
    assert store.get_map_run("t")["counts"] == run["counts"]


def test_a_child_that_exists_already_is_not_started_twice(store):
    store.put_flow("f", FLOW, {}, replace=False)
    store.create_map_run(run_record("c", concurrency=2), [{"n": i} for i in range(3)], [1] * 3)
    early, _ = store.create_execution("f", "c-0", {"n": 0}, time.time(), definition=FLOW, map_run="c")
    _, started, _ = store.map_items_ended("c", [], time.time())
    assert started == 1 and sorted(children(store, "c")) == ["c-0", "c-1"]
    assert len(store.due_events(early.id, time.time())) == 1  # its own start event, no second one


def test_children_of_a_limited_flow_are_admitted_as_any_start(store):
    store.put_flow("f", FLOW, {}, replace=False)
    store.set_flow_limit("f", 2)
    store.create_map_run(run_record("l", concurrency=5), [{"n": i} for i in range(5)], [1] * 5)
    run, started, waiting = store.map_items_ended("l", [], time.time())
    assert (started, waiting) == (2, 3) and run["counts"]["Running"] == 5
    statuses = sorted(r.status for r in children(store, "l").values())
    assert statuses == ["Running", "Running", "Starting", "Starting", "Starting"]


def test_ends_of_a_run_that_is_gone_are_dropped(store):
    assert store.map_items_ended("gone", [(0, True, {}, "", "")], time.time()) == (None, 0, 0)
