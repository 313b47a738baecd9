"""One contract, two stores: every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from stateway.engine import Decision
from stateway.store import (
    ExecutionAlreadyExists,
    FlowAlreadyExists,
    FlowNotExists,
    LeaseLost,
    ScheduleAlreadyExists,
    ScheduleNotExists,
    Store,
)

FLOW = "Type: StateMachine\nName: f\nSteps: []\n"


def _flow(store, name: str = "f") -> None:
    store.put_flow(name, FLOW, {"Description": "d"}, replace=False)


def _started(store, name: str = "e1") -> int:
    _flow(store) if not store.list_flows() else None
    row, created = store.create_execution("f", name, {"in": 1}, time.time())
    assert created
    return row.id


def _end(status: str = "Succeeded") -> Decision:
    return Decision(state={"status": status}, ended={"status": status, "output": {"ok": True}, "error": None,
                                                      "cause": None})


def test_it_is_a_store(store):
    assert isinstance(store, Store)
    assert store.ping()
    assert store.get_secret() == store.get_secret()


def test_flows(store):
    _flow(store)
    with pytest.raises(FlowAlreadyExists):
        _flow(store)
    updated = store.put_flow("f", FLOW + "# v2\n", {"Extra": 1}, replace="update")
    assert updated["meta"] == {"Description": "d", "Extra": 1} and updated["definition"].endswith("# v2\n")
    with pytest.raises(FlowNotExists):
        store.put_flow("g", FLOW, {}, replace="update")
    assert [f["name"] for f in store.list_flows()] == ["f"]
    store.delete_flow("f")
    with pytest.raises(FlowNotExists):
        store.get_flow("f")
    with pytest.raises(FlowNotExists):
        store.delete_flow("f")


def test_executions_by_name(store):
    execution_id = _started(store)
    again, created = store.create_execution("f", "e1", {}, time.time())
    assert not created and again.id == execution_id and again.input == {"in": 1}
    store.commit(execution_id, [], _end(), time.time(), [])
    with pytest.raises(ExecutionAlreadyExists):
        store.create_execution("f", "e1", {}, time.time())
    with pytest.raises(FlowNotExists):
        store.create_execution("nope", "e1", {}, time.time())
    row = store.find_execution("f", "e1")
    assert row.status == "Succeeded" and row.output == {"ok": True}
    assert store.count_executions("f", "Succeeded") == 1
    assert [r.name for r in store.list_executions(flow_name="f", name_prefix="e", with_state=False)] == ["e1"]


def test_concurrent_starts_of_one_name_make_one_execution(store):
    _flow(store)
    results = []

    def start() -> None:
        results.append(store.create_execution("f", "same", {}, time.time()))

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(created for _, created in results) == 1
    assert len({row.id for row, _ in results}) == 1


def test_claims_are_exclusive_and_expire(store):
    ids = [_started(store, f"e{i}") for i in range(4)]
    now = time.time()
    mine = store.claim_executions("w1", now, 2, 5.0)
    theirs = store.claim_executions("w2", now, 10, 5.0)
    assert len(mine) == 2 and sorted(mine + theirs) == ids
    assert store.claim_executions("w3", now, 10, 5.0) == []
    # w1's lease runs out: w3 takes its executions over, and w1 can no longer commit them
    later = now + 6
    taken = store.claim_executions("w3", later, 10, 5.0)
    assert sorted(taken) == sorted(mine + theirs)
    with pytest.raises(LeaseLost):
        store.commit(mine[0], [], Decision(state={"x": 1}), later, [], owner="w1", lease=5)
    assert store.get_execution(mine[0]).state is None


def test_renewal_keeps_live_leases_only(store):
    execution_id = _started(store)
    now = time.time()
    assert store.claim_executions("w1", now - 10, 1, 5.0) == [execution_id]  # already ran out
    assert store.renew_claims("w1", now, 5.0) == 0
    assert store.claim_executions("w2", now, 1, 5.0) == [execution_id]
    assert store.renew_claims("w2", now + 4, 5.0) == 1
    assert store.claim_executions("w1", now + 6, 1, 5.0) == []  # renewed until now + 9


def test_fenced_commit_writes_everything_and_releases(store):
    execution_id = _started(store)
    now = time.time()
    assert store.claim_executions("w1", now, 10, 30.0) == [execution_id]
    events = store.due_events(execution_id, now)
    assert [e for _, e in events] == [{"type": "start"}]
    decision = Decision(
        state={"step": 1},
        history=[{"EventId": 1, "Type": "ExecutionStarted", "StepName": "", "Time": now, "ScheduleEventId": 0,
                  "EventDetail": {"input": {}}}],
        commands=[{"kind": "invoke", "task": "2"}],
        timers=[{"timer": "t1", "due": now + 100, "event": {"type": "timer", "id": "t1"}}],
        opened_tasks=[{"task": "2", "token": "tok", "state": "S", "step": "S", "action": "FC:InvokeFunction",
                       "mode": "RequestComplete"}])
    outbox = store.commit(execution_id, [i for i, _ in events], decision, now, [], owner="w1", lease=30.0)
    assert [c for _, c in outbox] == [{"kind": "invoke", "task": "2"}]
    assert store.get_execution(execution_id).state == {"step": 1}
    assert [h["Type"] for h in store.history(execution_id)] == ["ExecutionStarted"]
    assert store.due_events(execution_id, now) == []
    assert store.next_due() == pytest.approx(now + 100)
    assert store.is_task_open(execution_id, "2")
    # released: the next due event can be claimed by anybody
    store.add_event(execution_id, {"type": "poke"})
    assert store.claim_executions("w2", now, 10, 30.0) == [execution_id]
    # the outbox row is w1's until its lease runs out
    assert store.claim_outbox("w2", now, 30.0) == []
    assert [r[0] for r in store.claim_outbox("w2", now + 31, 30.0)] == [outbox[0][0]]
    store.outbox_done(outbox[0][0])
    assert store.pending_outbox() == []


def test_complete_task_once(store):
    execution_id = _started(store)
    now = time.time()
    store.claim_executions("w", now, 1, 30)
    store.commit(execution_id, [], Decision(state={}, opened_tasks=[
        {"task": "7", "token": "t", "state": "S", "step": "S", "action": "A", "mode": "M"}]), now, [], owner="w",
        lease=30)
    event = {"type": "task_result", "task": "7", "ok": True, "output": {}}
    assert store.complete_task(execution_id, "7", event)
    assert not store.complete_task(execution_id, "7", event)
    assert [e for _, e in store.due_events(execution_id, time.time())][-1] == event


def test_sweep_closes_tasks_of_ended_executions_once(store):
    execution_id = _started(store)
    now = time.time()
    store.commit(execution_id, [], Decision(state={}, opened_tasks=[
        {"task": "3", "token": "t", "state": "S", "step": "S", "action": "A", "mode": "M"}]), now, [])
    store.commit(execution_id, [], _end("Stopped"), now, [])
    first = store.close_orphan_tasks("w1", now + 30)
    assert [c["kind"] for _, c in first] == ["cancel"] and store.close_orphan_tasks("w2", now + 30) == []
    assert store.claim_outbox("w2", now, 30) == []


def test_invocations_run_again_when_their_worker_dies(store):
    now = time.time()
    assert store.enqueue_invocation("i1", "fn", {"x": 1}, now, None, None, False)
    assert not store.enqueue_invocation("i1", "fn", {"x": 1}, now, None, None, False)
    job = store.claim_invocation("w1", now, 5.0)
    assert job["id"] == "i1" and job["event"] == {"x": 1}
    assert store.claim_invocation("w2", now, 5.0) is None
    again = store.claim_invocation("w2", now + 6, 5.0)
    assert again["id"] == "i1"
    store.finish_invocation("i1", "Succeeded", {"r": 1}, None, None)
    assert store.get_invocation("i1")["result"] == {"r": 1}
    assert store.claim_invocation("w3", now + 60, 5.0) is None
    assert store.cancel_invocation("i1") == "Succeeded"


def test_schedules(store):
    _flow(store)
    schedule = {"flow_name": "f", "name": "s", "id": "1", "cron": "0 * * * * *", "description": "", "enable": True,
                "payload": "{}", "created": 1.0, "modified": 1.0, "next_fire": 100.0}
    store.put_schedule(schedule, create=True)
    with pytest.raises(ScheduleAlreadyExists):
        store.put_schedule(schedule, create=True)
    assert store.get_schedule("f", "s")["enable"] is True
    assert [s["name"] for s in store.due_schedules(100.0)] == ["s"] and store.due_schedules(99.0) == []
    store.advance_schedule("f", "s", 100.0, 160.0)
    store.advance_schedule("f", "s", 100.0, 999.0)  # a second worker's late advance changes nothing
    assert store.get_schedule("f", "s")["next_fire"] == 160.0
    store.put_schedule({**schedule, "enable": False}, create=False)
    assert store.due_schedules(1000.0) == [] and len(store.list_schedules("f")) == 1
    store.delete_schedule("f", "s")
    with pytest.raises(ScheduleNotExists):
        store.get_schedule("f", "s")


def test_queue_priority_visibility_and_handles(store):
    now = time.time()
    assert store.create_queue("q", {"VisibilityTimeout": 10}) == "created"
    assert store.create_queue("q", {"VisibilityTimeout": 10}) == "same"
    assert store.create_queue("q", {"VisibilityTimeout": 11}) == "conflict"
    store.send_message("q", "low", 10, 0, now)
    store.send_message("q", "high", 1, 0, now)
    store.send_message("q", "later", 1, 60, now)
    assert [m["body"] for m in store.peek_messages("q", now, 16)] == ["high", "low"]
    got = store.receive_messages("q", now, 1, 30)
    assert [m["body"] for m in got] == ["high"]
    assert [m["body"] for m in store.receive_messages("q", now, 16, 30)] == ["low"]
    assert store.get_queue("q")["inactive"] == 2 and store.get_queue("q")["delayed"] == 1
    handle = store.change_visibility("q", got[0]["receipt_handle"], now)
    assert handle and not store.delete_message("q", got[0]["receipt_handle"])
    again = store.receive_messages("q", now, 1, 30)[0]
    assert again["body"] == "high" and again["dequeue_count"] == 2
    assert store.delete_message("q", again["receipt_handle"])
    sent = store.send_message("q", "x", 8, 0, now, message_id="M1")
    assert store.withdraw_message(sent["id"]) == "withdrawn" and store.withdraw_message("M1") == "gone"
    assert store.list_queues()[0]["messages"] == 2
    store.delete_queue("q")
    assert store.get_queue("q") is None


def test_concurrent_receivers_never_share_a_message(store):
    now = time.time()
    for i in range(40):
        store.send_message("q", f"m{i}", 8, 0, now)
    got: list[str] = []
    lock = threading.Lock()

    def receive() -> None:
        while True:
            batch = store.receive_messages("q", now, 3, 300)
            if not batch:
                return
            with lock:
                got.extend(m["body"] for m in batch)

    threads = [threading.Thread(target=receive) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(f"m{i}" for i in range(40))


def test_concurrent_claimers_never_share_an_execution(store):
    ids = [_started(store, f"e{i}") for i in range(30)]
    claimed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(3)

    def claim(owner: str) -> None:
        start.wait()
        for _ in range(10):
            batch = store.claim_executions(owner, time.time(), 3, 60.0)
            with lock:
                claimed.extend(batch)
            for execution_id in batch:  # done with it: the commit releases the claim
                store.commit(execution_id, [i for i, _ in store.due_events(execution_id, time.time())],
                             Decision(state={}), time.time(), [], owner=owner, lease=60.0)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == ids  # each exactly once


def test_a_batch_commits_each_fenced_on_its_own(store):
    from stateway.store import DecisionCommit

    ids = [_started(store, f"b{i}") for i in range(3)]
    now = time.time()
    assert sorted(store.claim_executions("w1", now, 10, 5.0)) == ids
    store.release_executions([ids[1]], "w1")  # e.g. taken over meanwhile: w1 no longer holds it
    events = store.due_events_of(ids, now)
    assert all([e for _, e in events[x]] == [{"type": "start"}] for x in ids)
    rows = store.get_executions(ids)
    assert sorted(rows) == ids and rows[ids[0]].name == "b0"
    running = Decision(state={"step": 1}, history=[
        {"EventId": 1, "Type": "ExecutionStarted", "StepName": "", "Time": now, "ScheduleEventId": 0,
         "EventDetail": {"input": {}}}],
        timers=[{"timer": "t1", "due": now + 60, "event": {"type": "timer", "timer": "t1"}}],
        commands=[{"kind": "invoke", "task": "1"}, {"kind": "invoke", "task": "2"}])
    commits = [DecisionCommit(ids[0], [events[ids[0]][0][0]], running, [{"kind": "report", "token": "x"}]),
               DecisionCommit(ids[1], [events[ids[1]][0][0]], _end()),
               DecisionCommit(ids[2], [events[ids[2]][0][0]], _end("Failed"))]
    outboxes = store.commit_batch(commits, now, owner="w1", lease=5.0)
    assert outboxes[1] is None and outboxes[2] == []
    assert [c for _, c in outboxes[0]] == [{"kind": "invoke", "task": "1"}, {"kind": "invoke", "task": "2"},
                                           {"kind": "report", "token": "x"}]
    assert len({i for i, _ in outboxes[0]}) == 3
    assert store.get_execution(ids[0]).state == {"step": 1} and store.get_execution(ids[0]).status == "Running"
    assert [h["Type"] for h in store.history(ids[0])] == ["ExecutionStarted"]
    assert store.get_execution(ids[1]).state is None  # lost its claim: nothing of it written
    assert [e for _, e in store.due_events(ids[1], now)] == [{"type": "start"}]
    assert store.get_execution(ids[2]).status == "Failed"
    assert store.due_events(ids[0], now) == [] and store.due_events(ids[0], now + 61) != []
    # everything w1 held was released by the commit: another worker can claim what is due
    assert store.claim_executions("w2", now, 10, 5.0) == [ids[1]]


def test_a_held_result_commits_through_its_gate_with_its_outbox_row(store):
    """A task result decided straight from the dispatcher: its open task is deleted by the commit (the
    gate), its outbox row too; a second such commit finds the gate closed and writes nothing at all."""
    from stateway.store import DecisionCommit, ResultGateClosed

    a, b = _started(store, "g1"), _started(store, "g2")
    now = time.time()
    opened = {"task": "7", "token": "t", "state": "S", "step": "S", "action": "X:Y", "mode": "RequestComplete"}
    assert sorted(store.claim_executions("w1", now, 10, 5.0)) == [a, b]
    events = store.due_events_of([a, b], now)
    store.commit_batch([DecisionCommit(x, [events[x][0][0]], Decision(state={"s": 0}, opened_tasks=[opened],
                                                                       commands=[{"kind": "invoke", "task": "7"}]))
                        for x in (a, b)], now, owner="w1", lease=5.0)
    outbox = {x: i for i, x, _ in store.pending_outbox()}
    # nothing due in the inbox: the executions are claimed for their held results
    assert sorted(store.claim_executions("w1", now, 10, 5.0, also=[a, b])) == [a, b]
    assert store.complete_task(b, "7", {"type": "task_result", "task": "7", "ok": True, "output": {}})  # b's gate: taken
    commits = [DecisionCommit(x, [], Decision(state={"s": 1}, closed_tasks=["7"]), gated_tasks=["7"],
                              outbox_done=[outbox[x]]) for x in (a, b)]
    with pytest.raises(ResultGateClosed) as lost:
        store.commit_batch(commits, now, owner="w1", lease=5.0)
    assert lost.value.execution_ids == [b]
    assert store.get_execution(a).state == {"s": 0} and len(store.pending_outbox()) == 2  # all rolled back
    assert store.commit_batch(commits[:1], now, owner="w1", lease=5.0) == [[]]
    assert store.get_execution(a).state == {"s": 1}
    assert [t["execution_id"] for t in store.open_tasks()] == []
    assert [x for _, x, _ in store.pending_outbox()] == [b]


def test_a_message_sent_twice_under_one_id_is_queued_once_with_its_properties(store):
    now = time.time()
    store.send_message("q2", "a", 8, 0, now, message_id="M2", properties={"traceparent": "00-x"})  # creates the queue
    store.send_message("q2", "b", 8, 0, now, message_id="M3", properties={"traceparent": "00-y"})
    store.send_message("q2", "b again", 8, 0, now, message_id="M3")
    got = store.receive_messages("q2", now, 16, 30)
    assert [(m["id"], m["body"], m["properties"]) for m in got] == [
        ("M2", "a", {"traceparent": "00-x"}), ("M3", "b", {"traceparent": "00-y"})]


def test_a_message_not_durable_is_sent_all_the_same(store):
    now = time.time()
    store.send_message("q3", "a", 8, 0, now, message_id="M4", durable=False)  # the queue made on the way
    store.send_message("q3", "b", 8, 0, now, message_id="M5", durable=False)
    store.send_message("q3", "b", 8, 0, now, message_id="M5", durable=False)  # sent again after a crash: once
    assert [m["body"] for m in store.receive_messages("q3", now, 16, 30)] == ["a", "b"]
