"""Versions, aliases and Map Runs behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from stateway.store import (
    FlowAliasAlreadyExists,
    FlowAliasNotExists,
    FlowVersionInUse,
    FlowVersionNotExists,
    MapRunNotExists,
    tolerance_exceeded,
)

FLOW = "Type: StateMachine\nSpecVersion: v1\nStartAt: p\nStates:\n  - {Type: Pass, Name: p, End: true}\n"


def test_versions_and_aliases(store):
    store.put_flow("f", FLOW, {"Description": "d1", "ExecutionMode": "Standard"}, replace=False)
    assert store.publish_version("f", "one")["version"] == 1
    store.put_flow("f", FLOW.replace("p", "q"), {"Description": "d2"}, replace="update")
    two = store.publish_version("f", "")
    assert two["version"] == 2 and "q" in two["definition"] and two["meta"] == {"Description": "d2"}
    assert [v["version"] for v in store.list_versions("f", None, 10)] == [2, 1]
    assert [v["version"] for v in store.list_versions("f", 1, 10)] == [1]
    alias = store.put_alias("f", "prod", "", [{"Version": "1", "Weight": 100}], create=True)
    assert alias["routing"] == [{"Version": "1", "Weight": 100}]
    with pytest.raises(FlowAliasAlreadyExists):
        store.put_alias("f", "prod", "", [{"Version": "1", "Weight": 100}], create=True)
    with pytest.raises(FlowVersionNotExists):
        store.put_alias("f", "x", "", [{"Version": "9", "Weight": 1}], create=True)
    with pytest.raises(FlowVersionInUse):
        store.delete_version("f", 1)
    moved = store.put_alias("f", "prod", None, [{"Version": "2", "Weight": 100}], create=False)
    assert moved["created"] == alias["created"] and store.get_alias("f", "prod")["routing"][0]["Version"] == "2"
    store.delete_version("f", 1)
    assert store.publish_version("f", "")["version"] == 3  # never reissued
    assert [a["name"] for a in store.list_aliases("f", "", 10)] == ["prod"]
    store.delete_alias("f", "prod")
    with pytest.raises(FlowAliasNotExists):
        store.get_alias("f", "prod")
    store.delete_flow("f")
    store.put_flow("f", FLOW, {}, replace=False)
    assert store.publish_version("f", "")["version"] == 1


def test_executions_record_version_qualifier_and_map_run(store):
    store.put_flow("f", FLOW, {}, replace=False)
    row, created = store.create_execution("f", "e", {}, time.time(), definition=FLOW.replace("p", "z"),
                                          flow_version="4", qualifier="prod", map_run="r1")
    assert created and (row.flow_version, row.qualifier, row.map_run) == ("4", "prod", "r1") and "z" in row.definition
    store.create_execution("f", "top", {}, time.time())
    assert [r.name for r in store.list_executions("f", map_run="")] == ["top"]
    assert [r.name for r in store.list_executions("f", map_run="r1")] == ["e"]
    assert [r.name for r in store.list_executions("f", flow_version="4")] == ["e"]


def run_record(name="r", concurrency=2, count=None, percentage=None):
    return {"name": name, "execution_id": 1, "task_id": "7", "flow_name": "f", "flow_version": "",
            "concurrency": concurrency, "tolerated_count": count, "tolerated_percentage": percentage,
            "execution_mode": "Express", "definition": FLOW, "globals": "{}",
            "writer": None}


def test_map_run_claims_counts_and_finishes_once(store):
    assert store.create_map_run(run_record(), [{"n": i} for i in range(5)], [1, 1, 1, 2, 1])
    assert not store.create_map_run(run_record(), [], [])
    assert store.claim_map_items("r") == [(0, {"n": 0}), (1, {"n": 1})]
    assert store.claim_map_items("r") == []  # concurrency 2
    run, started = store.map_item_ended("r", 0, True, {"v": 0}, "", "")
    assert started == [(2, {"n": 2})] and run["counts"]["Succeed"] == 1 and run["counts"]["Total"] == 6
    again, none = store.map_item_ended("r", 0, True, {"v": 0}, "", "")  # a repeated report changes nothing
    assert none == [] and again["counts"]["Succeed"] == 1
    run, started = store.map_item_ended("r", 1, False, None, "Bad", "why")
    assert started == [] and tolerance_exceeded(run)  # no tolerance set: the first failure is the run's
    assert store.first_map_failure("r") == ("Bad", "why")
    assert store.finish_map_run("r", "Failed", "Bad", "why") == [2]
    assert store.finish_map_run("r", "Failed") is None
    counts = store.get_map_run("r")["counts"]
    assert counts == {"Pending": 0, "Running": 0, "Succeed": 1, "Failed": 1, "Aborted": 4, "Total": 6}
    assert store.update_map_run("r", 5, None, None) is None
    with pytest.raises(MapRunNotExists):
        store.get_map_run("nope")


def test_map_run_tolerance_and_results(store):
    store.create_map_run(run_record("t", concurrency=10, percentage=50.0), [{"n": i} for i in range(4)], [1] * 4)
    assert len(store.claim_map_items("t")) == 4
    store.map_item_ended("t", 0, False, None, "E", "c")
    run, _ = store.map_item_ended("t", 1, False, None, "E", "c")
    assert not tolerance_exceeded(run)  # 2 of 4 is exactly 50 %: tolerated
    updated = store.update_map_run("t", None, 1, None)
    assert tolerance_exceeded(updated)  # a lowered count applies at once
    store.map_item_ended("t", 2, True, {"ok": 2}, "", "")
    store.map_item_ended("t", 3, True, {"ok": 3}, "", "")
    assert store.map_run_results("t") == [{"Code": "E", "Detail": "c"}, {"Code": "E", "Detail": "c"}, {"ok": 2},
                                          {"ok": 3}]
    assert store.finish_map_run("t", "Succeeded", only_if_done=True) == []
