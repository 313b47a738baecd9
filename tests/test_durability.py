"""kill -9 and restart: nothing started or reported is lost."""

import json
import os
import signal
import subprocess
import sys
import time

WAIT_FLOW = """Type: StateMachine
SpecVersion: v1
Name: waits
StartAt: Before
States:
  - Type: Pass
    Name: Before
    OutputConstructor: {step: 1, id.$: $Input.id}
    Next: Pause
  - {Type: Wait, Name: Pause, Seconds: 2, Next: After}
  - Type: Pass
    Name: After
    OutputConstructor: {step.$: $Input.step + 1, id.$: $Input.id}
    End: true
"""


def _until_in_the_wait(db, timeout: float = 60) -> None:
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db, timeout=5) as conn:
                if conn.execute("SELECT COUNT(*) FROM history WHERE type='StepEntered' AND step_name='Pause'"
                                ).fetchone()[0]:
                    time.sleep(0.2)
                    return
        except sqlite3.OperationalError:  # not created yet
            pass
        time.sleep(0.02)
    raise AssertionError("the first run never reached the Wait")


def test_kill_9_during_a_wait_then_run_again_on_the_same_db(tmp_path):
    flow = tmp_path / "waits.yaml"
    flow.write_text(WAIT_FLOW)
    db = tmp_path / "crash.db"
    cmd = [sys.executable, "-m", "stateway.cli", "run", str(flow), "--db", str(db), "--json", "--input", '{"id": 7}']
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _until_in_the_wait(db)  # start-up takes seconds on a busy machine: a fixed sleep may kill it too early
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "resuming" in second.stderr
    result = json.loads(second.stdout.strip().splitlines()[-1])
    assert result["status"] == "Succeeded" and result["output"] == {"step": 2, "id": 7}


ASYNC_AND_PARKED = """Type: StateMachine
SpecVersion: v1
Name: inflight
StartAt: Both
States:
  - Type: Parallel
    Name: Both
    Branches:
      - StartAt: Slow
        States:
          - Type: Task
            Name: Slow
            Action: FC:InvokeFunction
            TaskMode: WaitForSystemCallback
            Parameters: {resourceArn: "acs:fc:::functions/slow", invocationType: Async, body: {}}
            End: true
      - StartAt: Parked
        States:
          - Type: Task
            Name: Parked
            Action: MNS:SendMessage
            TaskMode: WaitForCustomCallback
            Timeout: 60
            Parameters:
              resourceArn: acs:mns:::/queues/parked/messages
              message: {token.$: $Context.Current.TaskToken}
            End: true
    End: true
"""


def test_restart_with_async_invocation_and_parked_callback_in_flight(tmp_path):
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "slow.py").write_text("import time\ndef handler(e, c):\n    time.sleep(1)\n    return {'done': 1}\n")
    db = str(tmp_path / "restart.db")
    first = Runtime(SQLiteStore(db), settings=Settings.from_config(functions_dir=str(functions))).start()
    first.register_flow("inflight", ASYNC_AND_PARKED)
    row = first.start_execution("inflight", {})
    deadline = time.monotonic() + 10
    while len(first.store.open_tasks(row.id)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    token = [t for t in first.store.open_tasks(row.id) if t["state"] == "Parked"][0]["token"]
    first.close()  # the async invocation dies with it: the rows remain
    first.registry.get("FC:InvokeFunction").functions.kill(f"{row.id}-")
    first.store.close()
    second = Runtime(SQLiteStore(db), settings=Settings.from_config(functions_dir=str(functions))).start()
    try:
        second.report_success(token, {"approved": True})
        ended = second.wait(row.id, 20)
        assert ended.status == "Succeeded", ended
        assert ended.output == {"Branch0": {"Body": {"done": 1}}, "Branch1": {"approved": True}}
    finally:
        second.close()
    assert os.path.exists(db)
