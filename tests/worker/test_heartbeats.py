"""Heartbeats and correlation keys on the server: validation, ReportTaskHeartbeat, the deadline as a
timer row (one UPDATE, survives a restart), FnF.HeartbeatTimeout matched by Retry/Catch/FnF.ALL, and
the CLI."""

from __future__ import annotations

import json
import time

import pytest

from stateway.fdl import validate_flow
from stateway.runtime import TaskAlreadyCompleted

TASK = """Type: StateMachine
SpecVersion: v1
Name: hb
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: {mode}
    Timeout: 30{extra}
    Parameters:
      resourceArn: acs:mns:::/queues/hbq/messages
      message:
        taskToken.$: $Context.Current.TaskToken
        heartbeatSeconds.$: $Context.Current.HeartbeatSeconds
    End: true
"""


def errors(text: str) -> list[str]:
    return [p.message for p in validate_flow(text) if p.severity == "error"]


def test_validation_of_heartbeat_seconds_and_correlation_keys():
    ok = TASK.format(mode="WaitForCustomCallback", extra="\n    HeartbeatSeconds: 10\n    CorrelationKey.$: $Input.id")
    assert errors(ok) == []
    assert errors(TASK.format(mode="WaitForCustomCallback", extra="\n    HeartbeatSeconds.$: $Input.beat")) == []
    refused = errors(TASK.format(mode="RequestComplete", extra="\n    HeartbeatSeconds: 10"))
    assert any("RequestComplete task has nobody to send heartbeats" in m for m in refused)
    longer = errors(TASK.format(mode="WaitForCustomCallback", extra="\n    HeartbeatSeconds: 60"))
    assert any("longer than the task's Timeout" in m for m in longer)
    both = errors(TASK.format(mode="WaitForCustomCallback", extra="\n    HeartbeatSeconds: 5\n    HeartbeatSeconds.$: $Input.x"))
    assert any("not both" in m for m in both)
    assert errors(TASK.format(mode="WaitForCustomCallback", extra="\n    HeartbeatSeconds: 0"))
    keyed = errors(TASK.format(mode="RequestComplete", extra="\n    CorrelationKey.$: $Input.id"))
    assert any("CorrelationKey.$ needs TaskMode WaitForCustomCallback" in m for m in keyed)


def _flow(runtime, extra: str) -> str:
    runtime.register_flow("hb", TASK.format(mode="WaitForCustomCallback", extra=extra))
    return "hb"


def _open_token(runtime, execution_id: int) -> str:
    deadline = time.monotonic() + 30
    while not runtime.store.open_tasks(execution_id):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return runtime.store.open_tasks(execution_id)[0]["token"]


def test_a_heartbeat_moves_the_deadline_and_answers_the_window(memory_runtime):
    from stateway.app import Stateway

    runtime = memory_runtime()
    tasks = Stateway(runtime).tasks
    _flow(runtime, "\n    HeartbeatSeconds: 2")
    row = runtime.start_execution("hb", {}, "beating")
    token = _open_token(runtime, row.id)
    sent = runtime.store.peek_messages("hbq", time.time(), 10)
    assert json.loads(sent[0]["body"])["heartbeatSeconds"] == 2  # the window reaches the worker
    for _ in range(6):  # 3 s of beats every 0.5 s: past the 2 s window, still open
        assert tasks.heartbeat(token) == 2
        time.sleep(0.5)
    assert runtime.store.execution_status(row.id) == "Running"
    runtime.report_success(token, {"done": True})
    assert runtime.wait(row.id, 30).status == "Succeeded"
    with pytest.raises(TaskAlreadyCompleted):
        tasks.heartbeat(token)


def test_no_heartbeat_fails_with_heartbeat_timeout_and_fnf_all_catches_it(memory_runtime):
    runtime = memory_runtime()
    text = """Type: StateMachine
SpecVersion: v1
Name: hb
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 30
    HeartbeatSeconds.$: $Input.beat
    Parameters:
      resourceArn: acs:mns:::/queues/hbq/messages
      message:
        taskToken.$: $Context.Current.TaskToken
    Retry:
      - Errors: [FnF.HeartbeatTimeout]
        MaxAttempts: 1
        IntervalSeconds: 0
    Catch:
      - Errors: [FnF.ALL]
        Next: Caught
    End: true
  - Type: Pass
    Name: Caught
    End: true
"""
    runtime.register_flow("hb", text)
    row = runtime.start_execution("hb", {"beat": 1})
    end = runtime.wait(row.id, 60)
    assert end.status == "Succeeded" and end.output == {
        "Code": "FnF.HeartbeatTimeout", "Detail": "no heartbeat within HeartbeatSeconds (1s)"}
    history = runtime.store.history(row.id)
    assert [e["EventDetail"].get("error") for e in history if e["Type"] == "TaskTimedOut"] == [
        "FnF.HeartbeatTimeout"] * 2  # the attempt and its retry


def test_a_heartbeat_is_one_update_of_the_timer_row(memory_runtime):
    runtime = memory_runtime()
    _flow(runtime, "\n    HeartbeatSeconds: 20")
    row = runtime.start_execution("hb", {})
    token = _open_token(runtime, row.id)
    ref = runtime.verify_token(token)
    statements: list[str] = []
    store = runtime.store
    db = store._db  # the SQLite connection: count what a heartbeat runs
    db.set_trace_callback(statements.append)
    try:
        assert store.heartbeat_task(row.id, ref.task_id, time.time()) == 20
    finally:
        db.set_trace_callback(None)
    writes = [s for s in statements if s.split()[0].upper() in ("UPDATE", "INSERT", "DELETE", "SELECT")]
    assert len(writes) == 1 and writes[0].startswith("UPDATE inbox"), statements


def test_the_heartbeat_deadline_survives_a_restart(tmp_path):
    from stateway.runtime import Runtime
    from stateway.store import SQLiteStore

    path = str(tmp_path / "hb.db")
    runtime = Runtime(SQLiteStore(path)).start()
    _flow(runtime, "\n    HeartbeatSeconds: 2")
    row = runtime.start_execution("hb", {}, "restart")
    _open_token(runtime, row.id)
    runtime.close()
    runtime.store.close()
    time.sleep(2.5)  # nobody beats while it is down
    again = Runtime(SQLiteStore(path)).start()
    try:
        end = again.wait(row.id, 60)
        assert end.status == "Failed" and end.error == "FnF.HeartbeatTimeout"
    finally:
        again.close()


def test_cli_heartbeat_and_reports_by_key(tmp_path):
    from tests.test_serve_cli import start_server, stateway

    proc, endpoint = start_server(tmp_path)
    try:
        flow = tmp_path / "keyed.yaml"
        flow.write_text(TASK.format(mode="WaitForCustomCallback", extra="\n    HeartbeatSeconds: 20\n"
                                    "    CorrelationKey.$: $Input.orderId").replace("Name: hb", "Name: keyed"))
        assert stateway("flow", "create", str(flow), "--endpoint", endpoint).returncode == 0
        assert stateway("exec", "start", "keyed", "--name", "o1", "--input", '{"orderId": "A-1"}',
                        "--endpoint", endpoint).returncode == 0
        deadline = time.monotonic() + 30
        while True:
            listed = json.loads(stateway("task", "list", "keyed", "--json", "--endpoint", endpoint).stdout)
            if listed and listed[0]["CorrelationKey"]:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert listed[0]["CorrelationKey"] == "A-1"
        table = stateway("task", "list", "keyed", "--endpoint", endpoint).stdout
        assert "KEY" in table.splitlines()[0] and "A-1" in table
        beat = stateway("task", "heartbeat", listed[0]["TaskToken"], "--endpoint", endpoint)
        assert beat.returncode == 0 and "window 20s" in beat.stdout
        beat = stateway("task", "heartbeat", "--flow", "keyed", "--key", "A-1", "--endpoint", endpoint)
        assert beat.returncode == 0, beat.stderr
        missing = stateway("task", "succeed", "--flow", "keyed", "--key", "nope", "--endpoint", endpoint)
        assert missing.returncode == 1 and "CorrelationKeyNotExists" in missing.stderr
        done = stateway("task", "succeed", "--flow", "keyed", "--key", "A-1", "--output", '{"ok": 1}',
                        "--endpoint", endpoint)
        assert done.returncode == 0, done.stderr
        out = json.loads(stateway("exec", "describe", "keyed", "o1", "--json", "--wait", "20", "--endpoint",
                                  endpoint).stdout)
        assert out["Status"] == "Succeeded" and json.loads(out["Output"]) == {"ok": 1}
        late = stateway("task", "heartbeat", listed[0]["TaskToken"], "--endpoint", endpoint)
        assert late.returncode == 1 and "TaskAlreadyCompleted" in late.stderr
        usage = stateway("task", "succeed", "--flow", "keyed", "--endpoint", endpoint)
        assert usage.returncode == 2
    finally:
        proc.kill()
        proc.communicate(timeout=10)
