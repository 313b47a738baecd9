"""DescribeMapRun, UpdateMapRun and Map Run children through the official SDK
(versions-and-maprun.md §4, §6)."""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_fnf20190315 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: Each
States:
  - Type: Map
    Name: Each
    ProcessorConfig:
      Mode: Distributed
    ItemsPath: $Input.items
    MaxConcurrency: 2
    ToleratedFailureCount: 5
    ItemConstructor:
      n.$: $Item
    Processor:
      StartAt: Ask
      States:
        - Type: Task
          Name: Ask
          Action: MNS:SendMessage
          TaskMode: WaitForCustomCallback
          Timeout: 120
          Parameters:
            resourceArn: acs:mns:::/queues/work/messages
            message: {token.$: $Context.Current.TaskToken}
          End: true
    End: true
"""


def code_of(call):
    with pytest.raises(ClientException) as info:
        call()
    return info.value.code, info.value.status_code


def until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def start(fnf, name, items=5):
    fnf.create_flow(m.CreateFlowRequest(name="mr", definition=FLOW, description="", type="FDL"))
    fnf.start_execution(m.StartExecutionRequest(flow_name="mr", execution_name=name,
                                                input=json.dumps({"items": list(range(items))})))

    def run_name():
        events = fnf.get_execution_history(m.GetExecutionHistoryRequest(flow_name="mr", execution_name=name)).body
        started = [e for e in events.events if e.type == "MapRunStarted"]
        return started and json.loads(started[0].event_detail)["mapRunName"]

    return until(run_name)


def describe(fnf, execution, run):
    return fnf.describe_map_run(m.DescribeMapRunRequest(flow_name="mr", execution_name=execution,
                                                        map_run_name=run)).body


def child_tokens(server, run):
    rows = {r.id: r for r in server.runtime.store.list_executions("mr", map_run=run)}
    return [(rows[t["execution_id"]].name, t["token"]) for t in server.runtime.store.open_tasks()
            if t["execution_id"] in rows]


def test_describe_and_update_while_running(fnf, server):
    run = start(fnf, "p1")
    assert len(run) == 32
    until(lambda: len(child_tokens(server, run)) == 2)
    body = describe(fnf, "p1", run)
    assert (body.status, body.concurrency, body.tolerated_failed_count) == ("Running", 2, 5)
    assert body.item_counts.to_map() == {"Pending": 3, "Running": 2, "Succeed": 0, "Failed": 0, "Aborted": 0,
                                         "Total": 5}
    assert body.stopped_time == "" and body.started_time.endswith("Z")
    children = fnf.list_executions(m.ListExecutionsRequest(flow_name="mr", map_run_name=run)).body.executions
    assert [c.name for c in children] == [f"{run}-0", f"{run}-1"]
    top = fnf.list_executions(m.ListExecutionsRequest(flow_name="mr")).body.executions
    assert [e.name for e in top] == ["p1"]  # children stay out of the flow's own list
    raised = fnf.update_map_run(m.UpdateMapRunRequest(flow_name="mr", execution_name="p1", map_run_name=run,
                                                      concurrency=4)).body
    assert (raised.flow_name, raised.map_run_name, raised.concurrency) == ("mr", run, 4)
    until(lambda: len(child_tokens(server, run)) == 4)
    name, token = child_tokens(server, run)[0]
    server.runtime.report_failure(token, "Bad", "one bad item")
    until(lambda: describe(fnf, "p1", run).item_counts.failed == 1)
    # a lowered threshold fails the run at once
    fnf.update_map_run(m.UpdateMapRunRequest(flow_name="mr", execution_name="p1", map_run_name=run,
                                             tolerated_failed_count=0))
    from stateway.client import RpcClient
    from tests.api.fixtures import KEY_ID, SECRET

    ended = RpcClient(server.endpoint, KEY_ID, SECRET).call("DescribeExecution", FlowName="mr", ExecutionName="p1",
                                                            WaitTimeSeconds=10)
    assert ended["Status"] == "Failed" and ended["ErrorCode"] == "FnF.ExceedToleratedFailureThreshold"
    assert "1 of 5 items failed" in ended["ErrorMessage"]
    final = describe(fnf, "p1", run)
    assert final.status == "Failed" and final.stopped_time.endswith("Z")
    assert final.item_counts.aborted == 4 and final.item_counts.failed == 1
    assert code_of(lambda: fnf.update_map_run(m.UpdateMapRunRequest(
        flow_name="mr", execution_name="p1", map_run_name=run, concurrency=3))) == ("MapRunNotRunning", 409)
    for child in fnf.list_executions(m.ListExecutionsRequest(flow_name="mr", map_run_name=run)).body.executions:
        status = until(lambda c=child: fnf.describe_execution(m.DescribeExecutionRequest(
            flow_name="mr", execution_name=c.name)).body.status != "Running" and c)
        assert status


def test_stopping_the_parent_stops_every_child(fnf, server):
    run = start(fnf, "p2")
    until(lambda: len(child_tokens(server, run)) == 2)
    fnf.stop_execution(m.StopExecutionRequest(flow_name="mr", execution_name="p2", error="Operator", cause="enough"))
    until(lambda: describe(fnf, "p2", run).status == "Aborted")
    def statuses_once_all_ended():  # children stop one by one: wait for every one of them
        children = [r.status for r in server.runtime.store.list_executions("mr", map_run=run)]
        return children if children and "Running" not in children else None

    statuses = until(statuses_once_all_ended)
    assert statuses == ["Stopped", "Stopped"]
    assert describe(fnf, "p2", run).item_counts.aborted == 5
    history = fnf.get_execution_history(m.GetExecutionHistoryRequest(flow_name="mr", execution_name="p2")).body
    assert "MapRunAborted" in [e.type for e in history.events]


def test_map_run_succeeds_with_outputs_in_order(fnf, server):
    run = start(fnf, "p3", items=3)
    done: set[str] = set()
    while len(done) < 3:
        for name, token in until(lambda: [t for t in child_tokens(server, run) if t[0] not in done]):
            server.runtime.report_success(token, {"child": name[-1]})
            done.add(name)
    ended = fnf.describe_execution(m.DescribeExecutionRequest(flow_name="mr", execution_name="p3",
                                                              wait_time_seconds=10)).body
    assert ended.status == "Succeeded"
    assert json.loads(ended.output) == {"Items": [{"child": "0"}, {"child": "1"}, {"child": "2"}]}
    body = describe(fnf, "p3", run)
    assert body.status == "Succeeded" and body.item_counts.succeed == 3 and body.item_counts.total == 3


def test_error_codes(fnf, server):
    run = start(fnf, "p4", items=1)
    assert code_of(lambda: describe(fnf, "p4", "0" * 32)) == ("MapRunNotExists", 404)
    assert code_of(lambda: describe(fnf, "nope", run)) == ("ExecutionNotExists", 404)
    assert code_of(lambda: fnf.describe_map_run(m.DescribeMapRunRequest(flow_name="mr", execution_name="p4"))) == (
        "MissingRequiredParams", 400)
    for bad in ({"concurrency": 0}, {"tolerated_failed_count": -1}, {"tolerated_failed_percentage": 101.0}):
        assert code_of(lambda b=bad: fnf.update_map_run(m.UpdateMapRunRequest(
            flow_name="mr", execution_name="p4", map_run_name=run, **b))) == ("InvalidArgument", 400)
    fnf.stop_execution(m.StopExecutionRequest(flow_name="mr", execution_name="p4"))
