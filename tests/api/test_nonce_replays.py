"""The write actions record their signature nonce in their own transaction (NONCE_WITH_WRITE): a
replayed request is still refused with SignatureNonceUsed and changes nothing, ExecutionName stays
idempotent, and a fresh request with a used nonce fails the same way."""

from __future__ import annotations

import time

import httpx

from stateway.api._signature import sign_rpc_v1
from tests.api.fixtures import KEY_ID, SECRET
from tests.api.test_sdk_flows import PASS, WAITS


def post(server, action, **params):
    query = sign_rpc_v1("POST", action, params, KEY_ID, SECRET)
    return query, httpx.post(f"http://{server.endpoint}/", data=query)


def again(server, query):
    return httpx.post(f"http://{server.endpoint}/", data=query)


def test_a_replayed_start_is_refused_and_starts_nothing(server):
    assert post(server, "CreateFlow", Name="p", Definition=PASS, Type="FDL", Description="")[1].status_code == 200
    query, first = post(server, "StartExecution", FlowName="p", Input='{"a": 1}')
    assert first.status_code == 200, first.text
    replay = again(server, query)
    assert (replay.status_code, replay.json()["Code"]) == (400, "SignatureNonceUsed")
    assert set(replay.json()) == {"RequestId", "HostId", "Code", "Message"}
    assert len(server.runtime.store.list_executions(flow_name="p")) == 1
    # a named start twice (fresh nonces): the running execution, found again; once ended, 409
    assert post(server, "CreateFlow", Name="w", Definition=WAITS, Type="FDL", Description="")[1].status_code == 200
    _, named = post(server, "StartExecution", FlowName="w", ExecutionName="once", Input='{"n": 1}')
    _, same = post(server, "StartExecution", FlowName="w", ExecutionName="once", Input='{"n": 1}')
    assert named.status_code == same.status_code == 200 and named.json()["StartedTime"] == same.json()["StartedTime"]
    assert len(server.runtime.store.list_executions(flow_name="w")) == 1
    _, ran = post(server, "StartExecution", FlowName="p", ExecutionName="ran", Input="{}")
    server.runtime.wait(server.runtime.store.find_execution("p", "ran").id, 30)
    _, ended = post(server, "StartExecution", FlowName="p", ExecutionName="ran", Input="{}")
    assert (ran.status_code, ended.status_code, ended.json()["Code"]) == (200, 409, "ExecutionAlreadyExists")
    # a refused start (no such flow) still spends its nonce
    query, missing = post(server, "StartExecution", FlowName="nope", Input="{}")
    assert (missing.status_code, missing.json()["Code"]) == (404, "FlowNotExists")
    assert again(server, query).json()["Code"] == "SignatureNonceUsed"
    # a used nonce on a different request of the same key: refused before anything starts
    used = sign_rpc_v1("POST", "StartExecution", {"FlowName": "p", "ExecutionName": "other", "Input": "{}",
                                                  "SignatureNonce": query["SignatureNonce"]}, KEY_ID, SECRET)
    assert again(server, used).json()["Code"] == "SignatureNonceUsed"
    assert server.runtime.store.find_execution("p", "other") is None


def test_a_replayed_report_is_refused(server):
    assert post(server, "CreateFlow", Name="w", Definition=WAITS, Type="FDL", Description="")[1].status_code == 200
    assert post(server, "StartExecution", FlowName="w", ExecutionName="e", Input='{"n": 1}')[1].status_code == 200
    store = server.runtime.store
    deadline = time.monotonic() + 30
    while not store.open_tasks_of("w") and time.monotonic() < deadline:
        time.sleep(0.05)
    token = store.open_tasks_of("w")[0]["token"]
    query, reported = post(server, "ReportTaskSucceeded", TaskToken=token, Output='{"ok": true}')
    assert reported.status_code == 200, reported.text
    replay = again(server, query)
    assert (replay.status_code, replay.json()["Code"]) == (400, "SignatureNonceUsed")
    # a fresh report of the same task: the action's own answer
    _, late = post(server, "ReportTaskFailed", TaskToken=token, Error="E")
    assert (late.status_code, late.json()["Code"]) == (400, "TaskAlreadyCompleted")
    row = server.runtime.wait(store.find_execution("w", "e").id, 30)
    assert (row.status, row.output) == ("Succeeded", {"ok": True})
