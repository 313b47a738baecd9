"""Flows, executions, history and callbacks through the official SDK (alibabacloud-fnf20190315)."""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_fnf20190315 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

PASS = "Type: StateMachine\nSpecVersion: v1\nName: flow-a\nStartAt: p\nStates:\n  - Type: Pass\n    Name: p\n    End: true\n"
WAITS = """Type: StateMachine
SpecVersion: v1
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 60
    Parameters:
      resourceArn: acs:mns:::/queues/asks/messages
      message: {token.$: $Context.Current.TaskToken, n.$: $Input.n}
    End: true
"""


def create(fnf, name, definition=PASS, mode="Standard"):
    return fnf.create_flow(m.CreateFlowRequest(name=name, definition=definition, description="d", type="FDL",
                                               execution_mode=mode)).body


def code_of(call):
    with pytest.raises(ClientException) as info:
        call()
    return info.value.code, info.value.status_code


def test_flow_lifecycle(fnf):
    created = create(fnf, "flow-a")
    assert created.name == "flow-a" and created.definition == PASS and created.created_time.endswith("Z")
    assert fnf.describe_flow(m.DescribeFlowRequest(name="flow-a")).body.id == created.id
    updated = fnf.update_flow(m.UpdateFlowRequest(name="flow-a", description="new")).body
    assert updated.description == "new" and updated.definition == PASS
    create(fnf, "flow-b")
    page = fnf.list_flows(m.ListFlowsRequest(limit=1)).body
    assert [f.name for f in page.flows] == ["flow-a"] and page.next_token
    page2 = fnf.list_flows(m.ListFlowsRequest(limit=1, next_token=page.next_token)).body
    assert [f.name for f in page2.flows] == ["flow-b"] and not page2.next_token
    assert code_of(lambda: create(fnf, "flow-a")) == ("FlowAlreadyExists", 409)
    fnf.delete_flow(m.DeleteFlowRequest(name="flow-b"))
    assert code_of(lambda: fnf.describe_flow(m.DescribeFlowRequest(name="flow-b"))) == ("FlowNotExists", 404)


def test_bad_definition_names_state_field_and_line(fnf):
    bad = PASS.replace("End: true", "Nxt: q")
    with pytest.raises(ClientException) as info:
        create(fnf, "bad", bad)
    assert info.value.code == "InvalidArgument"
    message = info.value.data["Message"]
    assert 'States[0] "p" > Nxt' in message and "Definition:8:5" in message


def test_execution_start_describe_list_history(fnf):
    create(fnf, "flow-a")
    started = fnf.start_execution(m.StartExecutionRequest(flow_name="flow-a", execution_name="exec-1",
                                                          input='{"key": "value"}')).body
    assert started.name == "exec-1" and started.status in ("Running", "Succeeded")
    done = fnf.describe_execution(m.DescribeExecutionRequest(flow_name="flow-a", execution_name="exec-1",
                                                             wait_time_seconds=5)).body
    assert done.status == "Succeeded" and json.loads(done.output) == {"key": "value"}
    assert done.stopped_time.endswith("Z")
    with pytest.raises(ClientException) as info:  # a finished name cannot start again
        fnf.start_execution(m.StartExecutionRequest(flow_name="flow-a", execution_name="exec-1"))
    assert (info.value.code, info.value.status_code) == ("ExecutionAlreadyExists", 409)
    for i in range(3):
        fnf.start_execution(m.StartExecutionRequest(flow_name="flow-a", execution_name=f"other-{i}"))
    listed = fnf.list_executions(m.ListExecutionsRequest(flow_name="flow-a", execution_name_prefix="other",
                                                         limit=2)).body
    assert [e.name for e in listed.executions] == ["other-0", "other-1"] and listed.next_token
    rest = fnf.list_executions(m.ListExecutionsRequest(flow_name="flow-a", execution_name_prefix="other",
                                                       next_token=listed.next_token, metadata_only=True)).body
    assert [e.name for e in rest.executions] == ["other-2"] and rest.executions[0].input is None
    history = fnf.get_execution_history(m.GetExecutionHistoryRequest(flow_name="flow-a", execution_name="exec-1",
                                                                     limit=2)).body
    assert [e.type for e in history.events] == ["ExecutionStarted", "StepEntered"] and history.next_token
    more = fnf.get_execution_history(m.GetExecutionHistoryRequest(
        flow_name="flow-a", execution_name="exec-1", next_token=history.next_token)).body
    assert more.events[-1].type == "ExecutionSucceeded" and not more.next_token
    assert json.loads(history.events[0].event_detail) == {"input": '{"key":"value"}'}
    assert code_of(lambda: fnf.describe_execution(m.DescribeExecutionRequest(
        flow_name="flow-a", execution_name="nope"))) == ("ExecutionNotExists", 404)
    assert code_of(lambda: fnf.list_executions(m.ListExecutionsRequest(
        flow_name="flow-a", status="Sleeping"))) == ("InvalidArgument", 400)
    assert code_of(lambda: fnf.start_execution(m.StartExecutionRequest(
        flow_name="flow-a", input="[1]"))) == ("InvalidArgument", 400)
    assert code_of(lambda: fnf.start_execution(m.StartExecutionRequest(
        flow_name="missing"))) == ("FlowNotExists", 404)


def _token(server, execution_name):
    row = server.runtime.store.find_execution("waits", execution_name)
    deadline = time.monotonic() + 10
    while not server.runtime.store.open_tasks(row.id):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return row, server.runtime.store.open_tasks(row.id)[0]["token"]


def test_report_task_succeeded_and_failed(fnf, server):
    create(fnf, "waits", WAITS)
    fnf.start_execution(m.StartExecutionRequest(flow_name="waits", execution_name="ok", input='{"n": 1}'))
    _, token = _token(server, "ok")
    again = fnf.start_execution(m.StartExecutionRequest(flow_name="waits", execution_name="ok", input='{"n": 9}')).body
    assert (again.status, json.loads(again.input)) == ("Running", {"n": 1})  # the running one, not a second
    event = fnf.report_task_succeeded(m.ReportTaskSucceededRequest(task_token=token, output='{"fine": true}')).body
    assert event.event_id > 0
    assert code_of(lambda: fnf.report_task_succeeded(m.ReportTaskSucceededRequest(
        task_token=token, output="{}"))) == ("TaskAlreadyCompleted", 400)
    done = fnf.describe_execution(m.DescribeExecutionRequest(flow_name="waits", execution_name="ok",
                                                             wait_time_seconds=5)).body
    assert json.loads(done.output) == {"fine": True}
    fnf.start_execution(m.StartExecutionRequest(flow_name="waits", execution_name="no", input='{"n": 2}'))
    _, token = _token(server, "no")
    assert code_of(lambda: fnf.report_task_succeeded(m.ReportTaskSucceededRequest(
        task_token=token, output="[1]"))) == ("InvalidArgument", 400)
    assert code_of(lambda: fnf.report_task_failed(m.ReportTaskFailedRequest(
        task_token=token[:-3] + "abc", error="E"))) == ("InvalidArgument", 400)
    fnf.report_task_failed(m.ReportTaskFailedRequest(task_token=token, error="Rejected", cause="no"))
    done = fnf.describe_execution(m.DescribeExecutionRequest(flow_name="waits", execution_name="no",
                                                             wait_time_seconds=5)).body
    assert done.status == "Failed"


def test_stop_and_callback_token_of_a_started_execution(fnf, server):
    create(fnf, "waits", WAITS)
    fnf.start_execution(m.StartExecutionRequest(flow_name="waits", execution_name="parent", input='{"n": 1}'))
    _, parent_token = _token(server, "parent")
    fnf.start_execution(m.StartExecutionRequest(flow_name="waits", execution_name="child", input='{"n": 2}',
                                                callback_fn_ftask_token=parent_token))
    stopped = fnf.stop_execution(m.StopExecutionRequest(flow_name="waits", execution_name="child", error="Op",
                                                        cause="enough")).body
    assert stopped.status == "Stopped"
    parent = fnf.describe_execution(m.DescribeExecutionRequest(flow_name="waits", execution_name="parent",
                                                               wait_time_seconds=5)).body
    assert parent.status == "Failed"  # the child's end was reported to the parent's token


def test_express_flow_runs_synchronously(fnf):
    create(fnf, "fast", PASS.replace("Name: flow-a", "Name: fast"), mode="Express")
    out = fnf.start_sync_execution(m.StartSyncExecutionRequest(flow_name="fast", execution_name="s1",
                                                               input='{"a": 1}')).body
    assert out.status == "Succeeded" and json.loads(out.output) == {"a": 1} and out.name.startswith("s1:")
    failing = PASS.replace("Name: flow-a", "Name: boom").replace("Type: Pass\n    Name: p\n    End: true",
                                                                  "Type: Fail\n    Name: p\n    Code: Bad\n"
                                                                  "    Detail: went wrong")
    create(fnf, "boom", failing, mode="Express")
    out = fnf.start_sync_execution(m.StartSyncExecutionRequest(flow_name="boom")).body
    assert (out.status, out.error_code, out.error_message) == ("Failed", "Bad", "went wrong")
    assert code_of(lambda: fnf.start_execution(m.StartExecutionRequest(flow_name="fast"))) == ("InvalidArgument", 400)


def test_schedules(fnf, server):
    create(fnf, "flow-a")
    created = fnf.create_schedule(m.CreateScheduleRequest(flow_name="flow-a", schedule_name="every-second",
                                                          cron_expression="* * * * * *", enable=True,
                                                          payload='{"p": 1}', description="d")).body
    assert created.enable is True and created.cron_expression == "* * * * * *"
    deadline = time.monotonic() + 10
    while not server.runtime.store.list_executions(flow_name="flow-a"):
        assert time.monotonic() < deadline, "the schedule did not fire"
        time.sleep(0.1)
    row = server.runtime.store.list_executions(flow_name="flow-a")[0]
    assert row.input == {"p": 1} and row.name.startswith("schedule-every-second-")
    updated = fnf.update_schedule(m.UpdateScheduleRequest(flow_name="flow-a", schedule_name="every-second",
                                                          cron_expression="0 0 * * * *", enable=False)).body
    assert updated.enable is False and updated.payload == '{"p": 1}'
    listed = fnf.list_schedules(m.ListSchedulesRequest(flow_name="flow-a")).body
    assert [s.schedule_name for s in listed.schedules] == ["every-second"]
    assert fnf.describe_schedule(m.DescribeScheduleRequest(flow_name="flow-a",
                                                           schedule_name="every-second")).body.schedule_id == created.schedule_id
    assert code_of(lambda: fnf.create_schedule(m.CreateScheduleRequest(
        flow_name="flow-a", schedule_name="every-second", cron_expression="* * * * * *"))) == (
        "ScheduleAlreadyExists", 409)
    assert code_of(lambda: fnf.create_schedule(m.CreateScheduleRequest(
        flow_name="flow-a", schedule_name="bad", cron_expression="* * *"))) == ("InvalidArgument", 400)
    fnf.delete_schedule(m.DeleteScheduleRequest(flow_name="flow-a", schedule_name="every-second"))
    assert code_of(lambda: fnf.describe_schedule(m.DescribeScheduleRequest(
        flow_name="flow-a", schedule_name="every-second"))) == ("ScheduleNotExists", 404)


def test_regions_and_every_sdk_action_answered(fnf):
    regions = fnf.describe_regions(m.DescribeRegionsRequest()).body
    assert regions.regions.region[0].region_id == "local"
    # the 29 actions of the SDK are all served: none answers ActionNotSupported any more
    assert code_of(lambda: fnf.list_flow_versions(m.ListFlowVersionsRequest(flow_name="x"))) == ("FlowNotExists", 404)
