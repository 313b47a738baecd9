"""Stops and failures reach every job a flow started, to any depth."""

import time

import pytest

from tests.conformance.harness import processes_of

SLEEPER = """import time, pathlib
def handler(event, context):
    time.sleep(event.get("sleep", 3))
    pathlib.Path(event["marker"]).write_text("side effect")
    return {"woke": True}
"""

GRANDCHILD = """Type: StateMachine
SpecVersion: v1
Name: grandchild
StartAt: Run
States:
  - Type: Task
    Name: Run
    Action: FC:InvokeFunction
    TaskMode: WaitForSystemCallback
    Parameters:
      resourceArn: acs:fc:::functions/cancel_sleeper
      invocationType: Async
      body: {marker.$: $Input.marker}
    End: true
"""
CHILD = """Type: StateMachine
SpecVersion: v1
Name: child
StartAt: Run
States:
  - Type: Task
    Name: Run
    Action: FNF:StartExecution
    TaskMode: WaitForSystemCallback
    Parameters:
      resourceArn: acs:fnf:::flow/grandchild
      input: {marker.$: $Input.marker}
    End: true
"""
PARENT = """Type: StateMachine
SpecVersion: v1
Name: parent
StartAt: All
States:
  - Type: Parallel
    Name: All
    Branches:
      - StartAt: Child
        States:
          - Type: Task
            Name: Child
            Action: FNF:StartExecution
            TaskMode: WaitForSystemCallback
            Parameters: {resourceArn: "acs:fnf:::flow/child", input: {marker.$: $Input.m1}}
            End: true
      - StartAt: Sync
        States:
          - Type: Task
            Name: Sync
            Action: FC:InvokeFunction
            Parameters: {resourceArn: "acs:fc:::functions/cancel_sleeper", invocationType: Sync, body: {marker.$: $Input.m2}}
            End: true
      - StartAt: Async
        States:
          - Type: Task
            Name: Async
            Action: FC:InvokeFunction
            TaskMode: WaitForSystemCallback
            Parameters: {resourceArn: "acs:fc:::functions/cancel_sleeper", invocationType: Async, body: {marker.$: $Input.m3}}
            End: true
    End: true
"""


def test_stop_reaches_grandchildren_and_every_function(memory_runtime, tmp_path):
    runtime = memory_runtime({"cancel_sleeper": SLEEPER})
    for name, source in (("grandchild", GRANDCHILD), ("child", CHILD), ("parent", PARENT)):
        runtime.register_flow(name, source)
    markers = {k: str(tmp_path / k) for k in ("m1", "m2", "m3")}
    row = runtime.start_execution("parent", markers)
    deadline = time.monotonic() + 10
    while len(processes_of("cancel_sleeper")) < 3:
        assert time.monotonic() < deadline, "the three functions did not start"
        time.sleep(0.05)
    runtime.stop_execution(row.id, "Operator", "enough")
    assert runtime.wait(row.id, 20).status == "Stopped"
    # the stop did not wait for the functions to finish: none has written its marker (no timing bound)
    assert not any((tmp_path / k).exists() for k in markers)
    deadline = time.monotonic() + 5
    while (processes_of("cancel_sleeper") or any(
            e.status == "Running" for e in runtime.store.list_executions())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {e.flow_name: e.status for e in runtime.store.list_executions()} == {
        "parent": "Stopped", "child": "Stopped", "grandchild": "Stopped"}
    assert not processes_of("cancel_sleeper")
    time.sleep(3.5)  # long enough for any survivor to write its marker
    assert not any((tmp_path / k).exists() for k in markers)
    events = [e["Type"] for e in runtime.store.history(row.id)]
    assert events.count("TaskCancelRequested") == 3 and "TaskCancelled" in events


def test_task_timeout_kills_its_function(memory_runtime, tmp_path):
    runtime = memory_runtime({"cancel_sleeper": SLEEPER})
    runtime.register_flow("t", """Type: StateMachine
SpecVersion: v1
StartAt: Slow
States:
  - Type: Task
    Name: Slow
    Action: FC:InvokeFunction
    Timeout: 1
    Parameters: {resourceArn: "acs:fc:::functions/cancel_sleeper", invocationType: Sync, body: {marker.$: $Input.m}}
    End: true
""")
    row = runtime.start_execution("t", {"m": str(tmp_path / "m")})
    ended = runtime.wait(row.id, 10)
    assert (ended.status, ended.error) == ("Failed", "FnF.Timeout")
    deadline = time.monotonic() + 3
    while processes_of("cancel_sleeper") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_of("cancel_sleeper")
    time.sleep(2.5)
    assert not (tmp_path / "m").exists()


def test_sweep_stops_a_child_whose_parent_already_ended(memory_runtime):
    """A child that starts in the instant its parent stops (or after a crash between the stop and its
    cancels) is found through the parent link and stopped."""
    runtime = memory_runtime()
    runtime.register_flow("p", "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n"
                          "  - {Type: Wait, Name: W, Seconds: 60, End: true}\n")
    runtime.register_flow("c", "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n"
                          "  - {Type: Wait, Name: W, Seconds: 60, End: true}\n")
    parent = runtime.start_execution("p", {})
    runtime.stop_execution(parent.id, "Op", "stop")
    assert runtime.wait(parent.id, 5).status == "Stopped"
    child = runtime.start_execution("c", {}, "late", parent=(parent.id, "3"))  # the race: started after the stop
    runtime.sweep()
    assert runtime.wait(child.id, 5).status == "Stopped"


CRASH_SCRIPT = r'''
import os, signal, sys, time
from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore
db, functions = sys.argv[1], sys.argv[2]
rt = Runtime(SQLiteStore(db), settings=Settings.from_config(functions_dir=functions)).start()
rt.register_flow("waiter", "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n"
                 "  - {Type: Wait, Name: W, Seconds: 600, End: true}\n")
rt.register_flow("crashy", """Type: StateMachine
SpecVersion: v1
StartAt: All
States:
  - Type: Parallel
    Name: All
    Branches:
      - StartAt: Child
        States:
          - Type: Task
            Name: Child
            Action: FNF:StartExecution
            TaskMode: WaitForSystemCallback
            Parameters: {resourceArn: "acs:fnf:::flow/waiter", input: {}}
            End: true
      - StartAt: Sync
        States:
          - Type: Task
            Name: Sync
            Action: FC:InvokeFunction
            Parameters: {resourceArn: "acs:fc:::functions/cancel_sleeper", invocationType: Sync, body: {marker.$: $Input.m}}
            End: true
    End: true
""")
row = rt.start_execution("crashy", {"m": sys.argv[3]})
while not rt.store.list_executions(flow_name="waiter") or not rt.registry.get("FC:InvokeFunction").functions.running():
    time.sleep(0.02)
rt._submit = lambda *args: None  # from here the dispatcher is dead: the stop commits, its cancels never leave
rt.stop_execution(row.id, "Operator", "crash test")
assert rt.wait(row.id, 5).status == "Stopped"
print("stopped", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
'''


def test_kill_9_between_the_stop_and_its_cancels(tmp_path):
    import subprocess
    import sys

    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "cancel_sleeper.py").write_text(SLEEPER)
    db, marker = str(tmp_path / "crash.db"), tmp_path / "marker"
    out = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, db, str(functions), str(marker)],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "stopped" and out.returncode == -9, out.stderr
    store = SQLiteStore(db)
    assert [e.status for e in store.list_executions(flow_name="waiter")] == ["Running"]  # the cancel was lost...
    assert store.pending_outbox()
    runtime = Runtime(store, settings=Settings.from_config(functions_dir=str(functions))).start()  # ...until the restart
    try:
        child = store.list_executions(flow_name="waiter")[0]
        assert runtime.wait(child.id, 5).status == "Stopped"
        parent = store.list_executions(flow_name="crashy")[0]
        deadline = time.monotonic() + 5
        while "TaskCancelled" not in [e["Type"] for e in store.history(parent.id)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "TaskCancelled" in [e["Type"] for e in store.history(parent.id)]
    finally:
        runtime.close()
    time.sleep(3.5)
    assert not marker.exists() and not processes_of("cancel_sleeper")


def test_stop_aborts_http_withdraws_messages_and_closes_callbacks(memory_runtime):
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from stateway.api import BackgroundServer
    from stateway.runtime import TaskAlreadyCompleted

    async def slow(request):
        await asyncio.sleep(30)
        return JSONResponse({})

    server = BackgroundServer(Starlette(routes=[Route("/slow", slow)])).start()
    runtime = memory_runtime()
    http = runtime.registry.get("HTTP:Request")  # to watch the request end
    runtime.register_flow("three", f"""Type: StateMachine
SpecVersion: v1
StartAt: All
States:
  - Type: Parallel
    Name: All
    Branches:
      - StartAt: Http
        States:
          - Type: Task
            Name: Http
            Action: HTTP:Request
            Parameters: {{url: "http://{server.endpoint}/slow", method: GET}}
            End: true
      - StartAt: Message
        States:
          - Type: Task
            Name: Message
            Action: MNS:SendMessage
            TaskMode: WaitForCustomCallback
            Timeout: 60
            Parameters:
              resourceArn: acs:mns:::/queues/unread/messages
              message: {{token.$: $Context.Current.TaskToken}}
            End: true
    End: true
""")
    try:
        row = runtime.start_execution("three", {})
        deadline = time.monotonic() + 10
        while len(runtime.store.open_tasks(row.id)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        token = [t for t in runtime.store.open_tasks(row.id) if t["state"] == "Message"][0]["token"]
        while not runtime.store.list_queues() or runtime.store.list_queues()[0]["messages"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # the HTTP request is in flight
        stopped_at = time.monotonic()
        runtime.stop_execution(row.id, "Op", "stop")
        # the request takes 30 s: a stop under 20 s did not wait for it (a hang detector, not a speed bound)
        assert runtime.wait(row.id, 20).status == "Stopped" and time.monotonic() - stopped_at < 20
        deadline = time.monotonic() + 5
        details = {}
        while len(details) < 2 and time.monotonic() < deadline:
            details = {e["StepName"]: e["EventDetail"]["detail"] for e in runtime.store.history(row.id)
                       if e["Type"] == "TaskCancelled"}
            time.sleep(0.05)
        assert details == {"All/Branch0/Http": "aborted the request in flight",
                           "All/Branch1/Message": "withdrew the unreceived message"}
        assert runtime.store.list_queues()[0]["messages"] == 0
        deadline = time.monotonic() + 5  # the aborted request's thread lets go of it right after the cancel
        while http._inflight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not http._inflight, "the HTTP request is still waiting for its answer"
        with pytest.raises(TaskAlreadyCompleted):
            runtime.report_success(token, {"late": True})
    finally:
        server.stop(force=True)  # the slow handler would hold a graceful stop for 30 s
