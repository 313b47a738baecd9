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


def test_a_start_and_its_nonce_commit_together_and_a_replay_starts_nothing(store):
    store.put_flow("s", FLOW, {}, replace=False)
    now = time.time()
    before = store.count_nonces()
    with store.nonce_in_next_write("k\ns1", now, WINDOW):
        row, created = store.create_execution("s", "e1", {"a": 1}, now, definition=FLOW)
    assert created and row.status == "Running" and row.input == {"a": 1} and row.definition == FLOW
    assert store.count_nonces() == before + 1
    assert [e["type"] for _, e in store.due_events(row.id, time.time())] == ["start"]
    with pytest.raises(NonceReplayed):  # a replay under another name: no execution
        with store.nonce_in_next_write("k\ns1", now + 1, WINDOW):
            store.create_execution("s", "e2", {}, now + 1, definition=FLOW)
    assert store.find_execution("s", "e2") is None
    with store.nonce_in_next_write("k\ns2", now, WINDOW):  # the same name again: that execution, not created
        again, created = store.create_execution("s", "e1", {}, now)
    assert (again.id, created) == (row.id, False)
    assert store.remember_nonce("k\ns2", now + 1, WINDOW) is False


def test_a_start_of_a_missing_or_limited_flow_still_records_its_nonce(store):
    from stateway.store import FlowNotExists

    now = time.time()
    with pytest.raises(FlowNotExists):
        with store.nonce_in_next_write("k\ns3", now, WINDOW):
            store.create_execution("absent", "e1", {}, now)
    assert store.remember_nonce("k\ns3", now + 1, WINDOW) is False
    store.put_flow("lim", FLOW, {}, replace=False)
    store.set_flow_limit("lim", 1, "$Input.k", 0)
    with store.nonce_in_next_write("k\ns4", now, WINDOW):
        first, _ = store.create_execution("lim", "e1", {"k": "a"}, now, definition=FLOW)
        assert first.status == "Running"
    with store.nonce_in_next_write("k\ns5", now, WINDOW):
        second, _ = store.create_execution("lim", "e2", {"k": "a"}, now, definition=FLOW)
    assert second.status == "Starting"  # waits for the limit, as before
    assert store.remember_nonce("k\ns4", now + 1, WINDOW) is False
    assert store.remember_nonce("k\ns5", now + 1, WINDOW) is False


def test_a_start_that_reads_its_flow_takes_its_definition_and_refuses_an_express_flow(store):
    from stateway.store import FlowNotExists, FlowNotStandard

    now = time.time()
    store.put_flow("std", FLOW, {"ExecutionMode": "Standard"}, replace=False)
    store.put_flow("fast", FLOW, {"ExecutionMode": "Express"}, replace=False)
    with store.nonce_in_next_write("k\ns6", now, WINDOW):
        row, created = store.create_execution("std", "e1", {}, now, standard_only=True)
    assert created and row.definition == FLOW
    other = FLOW.replace("P", "Q")  # a version's snapshot runs instead; the flow's mode is still checked
    row, _ = store.create_execution("std", "e2", {}, now, definition=other, standard_only=True)
    assert row.definition == other
    with pytest.raises(FlowNotStandard):
        with store.nonce_in_next_write("k\ns7", now, WINDOW):
            store.create_execution("fast", "e1", {}, now, standard_only=True)
    assert store.find_execution("fast", "e1") is None
    assert store.remember_nonce("k\ns7", now + 1, WINDOW) is False  # recorded all the same
    with pytest.raises(FlowNotExists):
        store.create_execution("absent", "e1", {}, now, standard_only=True)
