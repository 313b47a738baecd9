"""Poison-call bookkeeping on both stores: how often an outbox command and an async invocation were
handed out, and the function calls that gave no result."""

from __future__ import annotations

import time

from stateway.engine import Decision

FLOW = "Type: StateMachine\nSpecVersion: v1\nName: f\nStartAt: P\nStates:\n  - {Type: Pass, Name: P, End: true}\n"
INVOKE = {"kind": "invoke", "task": "3", "token": "t", "state": "", "step": "Call", "action": "FC:InvokeFunction",
          "mode": "RequestComplete", "parameters": {}, "timeout": None}


def test_taken_over_commands_carry_their_dispatch_count(store):
    store.put_flow("f", FLOW, {}, replace=False)
    row, _ = store.create_execution("f", "e", {}, time.time())
    store.commit(row.id, [], Decision(state={}, commands=[INVOKE]), time.time(), [])  # nobody holds it
    assert [c for _, _, c in store.claim_outbox("one", time.time(), 5)] == [INVOKE]
    assert store.redispatched[(row.id, "3")] == 2  # its committer's dispatch counts 1
    assert store.claim_outbox("two", time.time() + 10, 5)
    assert store.redispatched.pop((row.id, "3")) == 3


def test_async_invocations_count_their_claims(store):
    store.enqueue_invocation("inv-1", "acs:fc:::functions/x", {}, time.time(), None, None, False)
    first = store.claim_invocation("one", time.time(), 0.01)
    assert first["id"] == "inv-1" and first["dispatches"] == 1
    time.sleep(0.05)
    again = store.claim_invocation("two", time.time(), 5)  # the first owner's lease ran out
    assert again["id"] == "inv-1" and again["dispatches"] == 2


def test_lost_dispatches_are_counted_with_what_is_known(store):
    assert store.lost_dispatches("call") == {"lost": 0, "last_exit": "", "last_stderr": "", "gave_up": False}
    assert store.note_lost_dispatch("call", 7, "3", "f", "", "", 1.0)["lost"] == 1
    got = store.note_lost_dispatch("call", 7, "3", "f", "killed by signal SIGSEGV", "boom", 2.0)
    assert (got["lost"], got["last_exit"], got["last_stderr"]) == (2, "killed by signal SIGSEGV", "boom")
    got = store.note_lost_dispatch("call", 7, "3", "f", "", "", 3.0)  # a worker's death keeps the last known
    assert (got["lost"], got["last_exit"], got["gave_up"]) == (3, "killed by signal SIGSEGV", False)
    assert store.poison_calls(7) == []
    store.give_up_dispatch("call")
    assert store.poison_calls(7) == [{"task_id": "3", "function": "f", "dispatches": 3,
                                      "last_exit": "killed by signal SIGSEGV", "last_stderr": "boom"}]
