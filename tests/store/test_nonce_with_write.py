"""A request's signature nonce written in the request's own write transaction (nonce_in_next_write):
recorded once, a replay refused and its write rolled back, recorded on its own when no write made it."""

from __future__ import annotations

import time

import pytest

from stateway.store import FlowAlreadyExists, NonceReplayed

WINDOW = 1800.0
FLOW = "Type: StateMachine\nSpecVersion: v1\nStartAt: P\nStates:\n  - {Type: Pass, Name: P, End: true}\n"


def test_the_nonce_commits_with_the_write(store):
    before = store.count_nonces()
    with store.nonce_in_next_write("k\nn1", 1000.0, WINDOW):
        store.put_flow("a", FLOW, {}, replace=False)
    assert store.count_nonces() == before + 1
    assert store.remember_nonce("k\nn1", 1001.0, WINDOW) is False  # seen: a replay


def test_a_replay_is_refused_in_the_write_and_rolled_back(store):
    assert store.remember_nonce("k\nn2", 1000.0, WINDOW)
    with pytest.raises(NonceReplayed):
        with store.nonce_in_next_write("k\nn2", 1001.0, WINDOW):
            store.put_flow("b", FLOW, {}, replace=False)
    assert not any(f["name"] == "b" for f in store.list_flows())


def test_without_a_write_the_nonce_is_recorded_at_the_end(store):
    before = store.count_nonces()
    with store.nonce_in_next_write("k\nn3", 1000.0, WINDOW):
        store.list_flows()
    assert store.count_nonces() == before + 1
    with pytest.raises(NonceReplayed):
        with store.nonce_in_next_write("k\nn3", 1001.0, WINDOW):
            store.list_flows()


def test_a_failed_write_still_records_the_nonce_and_a_replay_wins_over_the_error(store):
    store.put_flow("c", FLOW, {}, replace=False)
    with pytest.raises(FlowAlreadyExists):
        with store.nonce_in_next_write("k\nn4", 1000.0, WINDOW):
            store.put_flow("c", FLOW, {}, replace=False)
    assert store.remember_nonce("k\nn4", 1001.0, WINDOW) is False
    with pytest.raises(NonceReplayed):  # the same request again: a replay, whatever it would have failed with
        with store.nonce_in_next_write("k\nn4", 1002.0, WINDOW):
            store.put_flow("c", FLOW, {}, replace=False)


def test_an_expired_nonce_may_be_used_again(store):
    with store.nonce_in_next_write("k\nn5", 1000.0, WINDOW):
        store.put_flow("d", FLOW, {}, replace=False)
    with store.nonce_in_next_write("k\nn5", 1000.0 + WINDOW + 1, WINDOW):
        store.put_flow("e", FLOW, {}, replace=False)
    assert {"d", "e"} <= {f["name"] for f in store.list_flows()}


def test_a_reported_task_and_its_nonce_commit_together_and_a_replay_leaves_the_task_open(store):
    from stateway.engine import Decision
    from tests.store.test_contract import _started

    execution_id = _started(store)
    now = time.time()
    store.claim_executions("w", now, 1, 30)
    store.commit(execution_id, [], Decision(state={}, opened_tasks=[
        {"task": t, "token": "t", "state": "S", "step": "S", "action": "A", "mode": "M"} for t in ("7", "8")]),
        now, [], owner="w", lease=30)
    event = {"type": "task_result", "task": "7", "ok": True, "output": {}}
    before = store.count_nonces()
    with store.nonce_in_next_write("k\nr1", now, WINDOW):
        assert store.complete_task(execution_id, "7", event)
    assert store.count_nonces() == before + 1
    with pytest.raises(NonceReplayed):  # a replay of that report, aimed at the other task: nothing happens
        with store.nonce_in_next_write("k\nr1", now + 1, WINDOW):
            store.complete_task(execution_id, "8", {**event, "task": "8"})
    assert store.is_task_open(execution_id, "8")
    with store.nonce_in_next_write("k\nr2", now, WINDOW):  # answered before: False, its nonce spent all the same
        assert not store.complete_task(execution_id, "7", event)
    assert store.remember_nonce("k\nr2", now + 1, WINDOW) is False
    assert [e for _, e in store.due_events(execution_id, time.time())][-1] == event
