"""Workers sharing one PostgreSQL store, as separate processes: a worker killed with SIGKILL
mid-flight loses nothing, and nothing is recorded twice."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from tests.pg.processes import api_node, worker

FLOW = """Type: StateMachine
Name: relay
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/double
      body:
        n.$: $Input.n
    OutputConstructor:
      doubled.$: $Output.Body.doubled
    Next: Pause
  - Type: Wait
    Name: Pause
    Seconds: 1
    Next: Ask
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 300
    Parameters:
      resourceArn: acs:mns:::/queues/relay/messages
      message:
        token.$: $Context.Current.TaskToken
        doubled.$: $Input.doubled
    OutputConstructor:
      doubled.$: $Input.doubled
      plus.$: $Output.plus
    End: true
"""
DOUBLE = "def handler(event, context):\n    return {'doubled': event['n'] * 2}\n"


def _consumers(endpoints: list[str], stop: threading.Event, reported: list[str]) -> list[threading.Thread]:
    """Queue workers: receive through one API node, report through the other."""
    from stateway.client import ApiCallError, RpcClient

    def consume(receive_at: str, report_at: str) -> None:
        from mns.account import Account
        from mns.mns_exception import MNSExceptionBase

        queue = Account(f"http://{receive_at}", "test", "test").get_queue("relay")
        queue.set_encoding(False)
        client = RpcClient(report_at, "test", "test")
        while not stop.is_set():
            try:
                message = queue.receive_message(wait_seconds=1)
            except MNSExceptionBase:  # no message, or no queue yet (before the first send)
                stop.wait(0.2)
                continue
            body = json.loads(message.message_body)
            try:
                client.call("ReportTaskSucceeded", TaskToken=body["token"],
                            Output=json.dumps({"plus": body["doubled"] + 1}))
            except ApiCallError as exc:
                assert exc.code == "TaskAlreadyCompleted", exc  # a redelivered message: already reported
            queue.delete_message(message.receipt_handle)
            reported.append(body["token"])

    threads = [threading.Thread(target=consume, args=(endpoints[i % 2], endpoints[(i + 1) % 2]), daemon=True)
               for i in range(4)]
    for thread in threads:
        thread.start()
    return threads


def _run_killed_worker(tmp_path, pg_url: str, executions: int) -> None:
    from stateway.client import RpcClient
    from stateway.store import open_store

    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "double.py").write_text(DOUBLE)
    config = tmp_path / "stateway.toml"
    config.write_text("[store]\nlease_seconds = 4\n")
    nodes = [api_node(pg_url, tmp_path / f"api{i}.log", config) for i in range(2)]
    workers = [worker(pg_url, functions, tmp_path / f"worker{i}.log", config) for i in range(2)]
    stop = threading.Event()
    store = open_store(pg_url)
    try:
        for node in [*nodes, *workers]:
            node.wait_ready(90)
        endpoints = [n.endpoint for n in nodes]
        clients = [RpcClient(e, "test", "test") for e in endpoints]
        clients[0].call("CreateFlow", Name="relay", Definition=FLOW, Description="", Type="FDL")
        reported: list[str] = []
        _consumers(endpoints, stop, reported)
        for i in range(executions):
            clients[i % 2].call("StartExecution", FlowName="relay", ExecutionName=f"r{i}", Input=json.dumps({"n": i}))
        # kill one worker while work is in flight: some executions done, many not
        deadline = time.monotonic() + 180  # generous: CI machines may be busy; a real bug never finishes
        while store.count_executions("relay", "Succeeded") < executions // 5:
            assert time.monotonic() < deadline, "no progress before the kill"
            time.sleep(0.05)
        workers[0].kill()
        killed_at = time.monotonic()
        deadline = time.monotonic() + 300
        while store.count_executions("relay", "Succeeded") < executions:
            failed = store.count_executions("relay", "Failed")
            assert failed == 0, [(r.name, r.error, r.cause) for r in store.list_executions(status="Failed")][:3]
            assert time.monotonic() < deadline, (
                f"{store.count_executions('relay', 'Succeeded')} of {executions} succeeded "
                f"{time.monotonic() - killed_at:.0f}s after the kill")
            time.sleep(0.1)
        for row in store.list_executions(flow_name="relay"):
            n = int(row.name[1:])
            assert row.output == {"doubled": 2 * n, "plus": 2 * n + 1}, (row.name, row.output)
            history = store.history(row.id, 0, 10000)
            ids = [e["EventId"] for e in history]
            assert ids == list(range(1, len(ids) + 1)), (row.name, ids)
            entered = Counter(e["StepName"] for e in history if e["Type"] == "StepEntered")
            assert entered == {"Call": 1, "Pause": 1, "Ask": 1}, (row.name, entered)
            finished = Counter(e["StepName"] for e in history if e["Type"] in ("TaskSucceeded", "StepExited"))
            assert all(count <= 2 for count in finished.values()), (row.name, finished)
            assert Counter(e["Type"] for e in history)["TaskSucceeded"] == 2, row.name
        assert workers[1].proc.poll() is None
    finally:
        stop.set()
        for node in [*nodes, *workers]:
            node.stop()
        store.close()


@pytest.mark.timeout(600)  # processes start slowly on a busy machine
def test_killed_worker_loses_nothing(tmp_path, pg_url):
    _run_killed_worker(tmp_path, pg_url, 20)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_killed_worker_loses_nothing_at_150(tmp_path, pg_url):
    _run_killed_worker(tmp_path, pg_url, 150)
