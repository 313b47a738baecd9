"""Each action in each of its modes, beyond what the conformance cases cover, and each
unsupported mode's validation error."""

import json
import time

import pytest

from stateway.fdl import validate_flow
from stateway.runtime import IntegrationRegistry

TASK = """Type: StateMachine
SpecVersion: v1
Name: %(name)s
StartAt: T
States:
  - Type: Task
    Name: T
    Action: %(action)s
    TaskMode: %(mode)s
    Timeout: 30
    Parameters:
%(params)s
    End: true
"""

CHILD = """Type: StateMachine
SpecVersion: v1
Name: echo
StartAt: P
States:
  - Type: Pass
    Name: P
    OutputConstructor: {seen.$: $Input.value}
    End: true
"""


def flow(name, action, mode, params):
    return TASK % {"name": name, "action": action, "mode": mode,
                   "params": "\n".join("      " + line for line in params.strip().splitlines())}


def wait_open_task(runtime, execution_id):
    deadline = time.monotonic() + 10
    while not runtime.store.open_tasks(execution_id):
        assert time.monotonic() < deadline, "no open task"
        time.sleep(0.02)
    return runtime.store.open_tasks(execution_id)[0]


def test_mns_request_complete_sends_and_returns_message_id(memory_runtime):
    runtime = memory_runtime()
    runtime.register_flow("send", flow("send", "MNS:SendMessage", "RequestComplete", """
resourceArn: acs:mns:::/queues/jobs/messages
message: {a.$: $Input.a}
priority: 2"""))
    ended = runtime.wait(runtime.start_execution("send", {"a": [1, "x"]}).id, 10)
    assert ended.status == "Succeeded" and len(ended.output["MessageId"]) == 32
    message = runtime.store.receive_messages("jobs", time.time(), 1, 30)[0]
    assert json.loads(message["body"]) == {"a": [1, "x"]} and message["priority"] == 2


def test_fnf_custom_callback_waits_for_a_report_not_for_the_child(memory_runtime):
    runtime = memory_runtime()
    runtime.register_flow("echo", CHILD)
    runtime.register_flow("p", flow("p", "FNF:StartExecution", "WaitForCustomCallback", """
resourceArn: acs:fnf:::flow/echo
input: {value.$: $Context.Current.TaskToken}"""))
    row = runtime.start_execution("p", {})
    task = wait_open_task(runtime, row.id)
    child = None
    deadline = time.monotonic() + 10
    while child is None or child.status == "Running":
        assert time.monotonic() < deadline
        child = runtime.store.child_execution(row.id, task["task_id"])
        time.sleep(0.02)
    assert child.output == {"seen": task["token"]}  # the child got the token and ended...
    assert runtime.store.get_execution(row.id).status == "Running"  # ...and the parent still waits
    runtime.report_success(task["token"], {"approved": True})
    assert runtime.wait(row.id, 10).output == {"approved": True}


def test_fc_sync_in_custom_callback_runs_then_waits(memory_runtime):
    runtime = memory_runtime({"notify": "def handler(event, context):\n    return {'mailed': event['token'][:3]}\n"})
    runtime.register_flow("p", flow("p", "FC:InvokeFunction", "WaitForCustomCallback", """
resourceArn: acs:fc:::functions/notify
invocationType: Sync
body: {token.$: $Context.Current.TaskToken}"""))
    row = runtime.start_execution("p", {})
    task = wait_open_task(runtime, row.id)
    deadline = time.monotonic() + 10
    while "TaskSubmitted" not in [e["Type"] for e in runtime.store.history(row.id)]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    runtime.report_failure(task["token"], "Declined", "by bob")
    ended = runtime.wait(row.id, 10)
    assert (ended.status, ended.error, ended.cause) == ("Failed", "Declined", "by bob")


def test_function_not_found_and_bad_arn(memory_runtime):
    runtime = memory_runtime()
    runtime.register_flow("nf", flow("nf", "FC:InvokeFunction", "RequestComplete", """
resourceArn: acs:fc:::functions/missing
invocationType: Sync"""))
    assert runtime.wait(runtime.start_execution("nf", {}).id, 10).error == "FC.FunctionNotFound"
    runtime.register_flow("bad", flow("bad", "FNF:StartExecution", "RequestComplete", "resourceArn: nope"))
    assert runtime.wait(runtime.start_execution("bad", {}).id, 10).error == "FnF.InvalidArgument"
    runtime.register_flow("gone", flow("gone", "FNF:StartExecution", "RequestComplete",
                                       "resourceArn: acs:fnf:::flow/nosuch"))
    assert runtime.wait(runtime.start_execution("gone", {}).id, 10).error == "FNF.FlowNotExists"


def test_function_list_and_string_results_and_command_functions(memory_runtime, tmp_path):
    (tmp_path / "functions").mkdir(exist_ok=True)
    (tmp_path / "functions" / "stateway.toml").write_text(
        '[functions.upper]\n'
        'command = "python3 -c \'import sys,json; print(json.dumps(json.load(sys.stdin)[\\"s\\"].upper()))\'"\n')
    runtime = memory_runtime({"listy": "def handler(event, context):\n    return [1, context.function_name]\n"})
    runtime.register_flow("l", flow("l", "FC:InvokeFunction", "RequestComplete", """
resourceArn: acs:fc:::services/svc.LATEST/functions/listy
invocationType: Sync"""))
    assert runtime.wait(runtime.start_execution("l", {}).id, 10).output == {"Body": [1, "listy"]}
    runtime.register_flow("u", flow("u", "FC:InvokeFunction", "RequestComplete", """
resourceArn: acs:fc:::functions/upper
invocationType: Sync
body: {s: abc}"""))
    assert runtime.wait(runtime.start_execution("u", {}).id, 10).output == {"Body": "ABC"}


@pytest.mark.parametrize("action,mode", [("MNS:SendMessage", "WaitForSystemCallback"),
                                         ("HTTP:Request", "WaitForSystemCallback")])
def test_unsupported_mode_is_a_validation_error(action, mode):
    problems = validate_flow(flow("x", action, mode, "url: http://127.0.0.1:9/"), IntegrationRegistry.default().modes())
    assert [p.message for p in problems if p.severity == "error"] == [
        f"action {action!r} does not support {mode}; it supports RequestComplete, WaitForCustomCallback"]
