import time

import pytest

from stateway.runtime import InvalidArgument, InvalidTaskToken, TaskAlreadyCompleted

WAIT = """Type: StateMachine
SpecVersion: v1
Name: approval
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 30
    Parameters:
      resourceArn: acs:mns:::/queues/q/messages
      message: {token.$: $Context.Current.TaskToken}
    End: true
"""


def parked(runtime):
    runtime.register_flow("approval", WAIT)
    row = runtime.start_execution("approval", {})
    deadline = time.monotonic() + 10
    while not runtime.store.open_tasks(row.id):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return row, runtime.store.open_tasks(row.id)[0]["token"]


def test_forged_token_is_refused_and_changes_nothing(memory_runtime):
    runtime = memory_runtime()
    row, token = parked(runtime)
    prefix, payload, signature = token.split(".")
    for forged in (f"{prefix}.{payload}.{signature[:-2]}xx", "garbage", f"{prefix}.e30.{signature}"):
        with pytest.raises(InvalidTaskToken):
            runtime.report_success(forged, {"x": 1})
    assert runtime.store.get_execution(row.id).status == "Running"
    assert len(runtime.store.open_tasks(row.id)) == 1


def test_token_from_another_server_secret_does_not_verify(memory_runtime):
    a, b = memory_runtime(), memory_runtime()
    _, token = parked(a)
    with pytest.raises(InvalidTaskToken):
        b.report_success(token, {})


def test_repeated_report_is_task_already_completed(memory_runtime):
    runtime = memory_runtime()
    row, token = parked(runtime)
    runtime.report_success(token, {"ok": True})
    with pytest.raises(TaskAlreadyCompleted):
        runtime.report_success(token, {"ok": False})
    with pytest.raises(TaskAlreadyCompleted):
        runtime.report_failure(token, "Nope", "")
    assert runtime.wait(row.id, 10).output == {"ok": True}


def test_output_must_be_an_object(memory_runtime):
    runtime = memory_runtime()
    _, token = parked(runtime)
    with pytest.raises(InvalidArgument):
        runtime.report_success(token, [1, 2])


def test_report_after_the_message_was_received_from_the_queue(memory_runtime):
    import json

    runtime = memory_runtime()
    row, _ = parked(runtime)
    message = runtime.store.receive_messages("q", time.time(), 1, 30)[0]
    runtime.report_failure(json.loads(message["body"])["token"], "Rejected", "no")
    ended = runtime.wait(row.id, 10)
    assert (ended.status, ended.error, ended.cause) == ("Failed", "Rejected", "no")
