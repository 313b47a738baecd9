"""The README's "Write a queue worker" runs as written against `stateway serve`, and a client
given `.../queues` as its MNS endpoint gets a clear answer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.test_serve_cli import free_port, start_server, stateway

README = Path(__file__).resolve().parent.parent / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def run_readme_worker(tmp_path, code: str, env: dict[str, str], cases) -> str:
    worker = section("Write a queue worker")
    task_yaml = re.search(r"```yaml\n(.*?)```", worker, re.S).group(1)
    flow = tmp_path / "approval.yaml"
    flow.write_text("Type: StateMachine\nSpecVersion: v1\nName: approval\nStartAt: Approve\nStates:\n" + task_yaml)
    proc, endpoint = start_server(tmp_path)
    script = tmp_path / "worker.py"
    script.write_text(code.replace('ENDPOINT = "127.0.0.1:8765"', f'ENDPOINT = "{endpoint}"'))
    worker_proc = subprocess.Popen([sys.executable, "-W", "ignore", str(script)], stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "STATEWAY_ENDPOINT": endpoint, **env})
    try:
        assert stateway("flow", "create", str(flow), "--endpoint", endpoint).returncode == 0
        for name, amount, status, expected in cases:
            assert stateway("exec", "start", "approval", "--name", name, "--input", json.dumps({"amount": amount}),
                            "--endpoint", endpoint).returncode == 0
            deadline = time.monotonic() + 30
            while True:
                out = stateway("exec", "describe", "approval", name, "--json", "--wait", "5", "--endpoint", endpoint)
                result = json.loads(out.stdout)
                if result["Status"] != "Running" or time.monotonic() > deadline:
                    break
            assert result["Status"] == status, (result, worker_proc.poll())
            if status == "Succeeded":
                assert json.loads(result["Output"]) == expected
            else:
                assert result["ErrorCode"] == expected
    finally:
        worker_proc.kill()
        worker_stderr = worker_proc.communicate(timeout=10)[1]
        proc.kill()  # a graceful stop would wait for the worker's long poll to time out
        proc.communicate(timeout=10)
    assert "Traceback" not in worker_stderr, worker_stderr
    return worker_stderr


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", section("Write a queue worker"), re.S)


def test_readme_queue_worker_with_the_library_runs_as_written(tmp_path):
    code = python_blocks()[0]
    assert "from stateway.worker import" in code and len(code.strip().splitlines()) <= 16
    run_readme_worker(tmp_path, code, {"ALIBABA_CLOUD_ACCESS_KEY_ID": "test", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "test"},
                      [("small", 50, "Succeeded", {"approved": True}), ("large", 500, "Succeeded", {"approved": False}),
                       ("huge", 5000, "Failed", "Approval.TooLarge")])


def test_readme_queue_worker_without_the_library_runs_as_written(tmp_path):
    code = python_blocks()[1]
    assert 'ENDPOINT = "127.0.0.1:8765"' in code and "TaskAlreadyCompleted" in code
    run_readme_worker(tmp_path, code, {}, [("small", 50, "Succeeded", {"approved": True}),
                                           ("large", 500, "Succeeded", {"approved": False})])


def test_the_raw_worker_survives_a_task_answered_first_and_a_late_server(tmp_path):
    """Started before the server listens, and handed a message whose task the CLI answered: it goes on."""
    code = python_blocks()[1]
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    script = tmp_path / "worker.py"
    script.write_text(code.replace('ENDPOINT = "127.0.0.1:8765"', f'ENDPOINT = "{endpoint}"'))
    worker_proc = subprocess.Popen([sys.executable, "-W", "ignore", str(script)], stderr=subprocess.PIPE, text=True)
    time.sleep(2)  # connection refused meanwhile
    proc = subprocess.Popen([sys.executable, "-m", "stateway.cli", "serve", "--port", str(port), "--data-dir",
                             str(tmp_path / "data")], stderr=subprocess.PIPE, text=True)
    try:
        flow = tmp_path / "approval.yaml"
        task_yaml = re.search(r"```yaml\n(.*?)```", section("Write a queue worker"), re.S).group(1)
        flow.write_text("Type: StateMachine\nSpecVersion: v1\nName: approval\nStartAt: Approve\nStates:\n" + task_yaml)
        deadline = time.monotonic() + 30
        while stateway("flow", "create", str(flow), "--endpoint", endpoint).returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        worker_proc.send_signal(signal.SIGSTOP)  # paused: the CLI answers the first task before it
        assert stateway("exec", "start", "approval", "--name", "first", "--input", '{"amount": 1}',
                        "--endpoint", endpoint).returncode == 0
        token = None
        while not token:
            listed = json.loads(stateway("task", "list", "approval", "--json", "--endpoint", endpoint).stdout)
            token = listed[0]["TaskToken"] if listed else None
        assert stateway("task", "succeed", token, "--output", '{"by": "cli"}', "--endpoint", endpoint).returncode == 0
        worker_proc.send_signal(signal.SIGCONT)
        assert stateway("exec", "start", "approval", "--name", "second", "--input", '{"amount": 2}',
                        "--endpoint", endpoint).returncode == 0
        out = stateway("exec", "describe", "approval", "second", "--json", "--wait", "30", "--endpoint", endpoint)
        assert json.loads(out.stdout)["Status"] == "Succeeded", worker_proc.poll()
        assert worker_proc.poll() is None
    finally:
        worker_proc.kill()
        worker_stderr = worker_proc.communicate(timeout=10)[1]
        proc.kill()
        proc.communicate(timeout=10)
    assert "Traceback" not in worker_stderr, worker_stderr


def test_an_endpoint_with_queues_in_it_gets_a_clear_mns_error(tmp_path):
    proc, endpoint = start_server(tmp_path)
    try:
        response = httpx.get(f"http://{endpoint}/queues/queues/approvals/messages?waitseconds=1")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert response.status_code == 400 and "<Code>InvalidEndpoint</Code>" in response.text
    assert f"The MNS endpoint is http://{endpoint}, without /queues" in response.text
