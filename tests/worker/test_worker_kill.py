"""Acceptance over the built-in queue (mns://): 100 executions answered by a `stateway task-worker`
process that is killed with kill -9 mid-way and started again. Every execution succeeds with
exactly one accepted report; a graceful SIGTERM exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mns.account import Account
from mns.queue import QueueMeta

from stateway.client import RpcClient
from tests.test_serve_cli import start_server, stateway

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

APP = '''
import os, time
from stateway.worker import Worker

worker = Worker(concurrency=4, poll_seconds=1, shutdown_seconds=10)

@worker.task("mns://jobs")
def handle(task):
    with open(os.environ["HANDLED_LOG"], "a") as f:
        f.write(f"{os.getpid()} {task.message['n']} {task.attempt}\\n")
    time.sleep(0.05)
    return {"n": task.message["n"], "pid": os.getpid()}
'''

FLOW = """Type: StateMachine
SpecVersion: v1
Name: jobs
StartAt: Work
States:
  - Type: Task
    Name: Work
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 600
    Parameters:
      resourceArn: acs:mns:::/queues/jobs/messages
      message:
        n.$: $Input.n
        taskToken.$: $Context.Current.TaskToken
    End: true
"""


def start_worker(tmp_path: Path, endpoint: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stateway.cli", "task-worker", str(tmp_path / "app.py")],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "STATEWAY_ENDPOINT": endpoint, "HANDLED_LOG": str(tmp_path / "handled"),
                                 "ALIBABA_CLOUD_ACCESS_KEY_ID": "test", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "test"})


def handled(tmp_path: Path) -> list[tuple[int, int, int]]:
    path = tmp_path / "handled"
    if not path.exists():
        return []
    return [tuple(int(x) for x in line.split()) for line in path.read_text().splitlines() if line.count(" ") == 2]


@pytest.mark.timeout(300)
def test_kill_9_mid_way_and_restart_every_execution_succeeds_once(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "jobs.yaml").write_text(FLOW)
    proc, endpoint = start_server(tmp_path)
    first = second = None
    try:
        assert stateway("flow", "create", str(tmp_path / "jobs.yaml"), "--endpoint", endpoint).returncode == 0
        # the queue exists with a short visibility timeout, so the killed worker's messages come back soon
        meta = QueueMeta()
        meta.set_visibilitytimeout(3)
        Account(f"http://{endpoint}", "test", "test").get_queue("jobs").create(meta)
        api = RpcClient(endpoint, "test", "test")
        # a task answered from the CLI before any worker runs: its message stays on the queue
        api.call("StartExecution", FlowName="jobs", ExecutionName="cli-first", Input=json.dumps({"n": -1}))
        token = None
        while not token:
            listed = api.call("ListOpenTasks", FlowName="jobs")["Tasks"]
            token = listed[0]["TaskToken"] if listed else None
        assert stateway("task", "succeed", token, "--output", '{"by": "cli"}', "--endpoint", endpoint).returncode == 0
        first = start_worker(tmp_path, endpoint)
        for n in range(100):
            api.call("StartExecution", FlowName="jobs", ExecutionName=f"e{n}", Input=json.dumps({"n": n}))
        deadline = time.monotonic() + 60
        while len(handled(tmp_path)) < 30:
            assert time.monotonic() < deadline and first.poll() is None, first.stderr.read() if first.poll() else ""
            time.sleep(0.02)
        first.kill()  # kill -9: no goodbye, messages in its hands come back after their visibility timeout
        first.communicate(timeout=10)
        second = start_worker(tmp_path, endpoint)
        for n in range(100):
            result = api.call("DescribeExecution", FlowName="jobs", ExecutionName=f"e{n}", WaitTimeSeconds=30)
            if result["Status"] == "Running":
                result = api.call("DescribeExecution", FlowName="jobs", ExecutionName=f"e{n}", WaitTimeSeconds=30)
            assert result["Status"] == "Succeeded", result
            assert json.loads(result["Output"])["n"] == n
            history = api.call("GetExecutionHistory", FlowName="jobs", ExecutionName=f"e{n}", Limit=100)["Events"]
            assert [e["Type"] for e in history].count("TaskSucceeded") == 1
        cli_first = api.call("DescribeExecution", FlowName="jobs", ExecutionName="cli-first")
        assert json.loads(cli_first["Output"]) == {"by": "cli"}
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 0, stderr
        assert "worker stopped" in stderr and "INFO" in stderr and "Traceback" not in stderr
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate(timeout=10)
        proc.kill()
        proc.communicate(timeout=10)
    runs = handled(tmp_path)
    assert {n for _, n, _ in runs} == {-1, *range(100)}  # the CLI's task too: handled, its report refused
    assert len({pid for pid, _, _ in runs}) == 2  # both workers answered tasks
