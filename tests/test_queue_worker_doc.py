"""The README's "Write a queue worker" runs as written against `stateway serve`, and a client
given `.../queues` as its MNS endpoint gets a clear answer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.test_serve_cli import start_server, stateway

README = Path(__file__).resolve().parent.parent / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_readme_queue_worker_runs_as_written(tmp_path):
    worker = section("Write a queue worker")
    task_yaml = re.search(r"```yaml\n(.*?)```", worker, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", worker, re.S).group(1)
    flow = tmp_path / "approval.yaml"
    flow.write_text("Type: StateMachine\nSpecVersion: v1\nName: approval\nStartAt: Approve\nStates:\n" + task_yaml)
    proc, endpoint = start_server(tmp_path)
    script = tmp_path / "worker.py"
    assert 'ENDPOINT = "127.0.0.1:8765"' in code
    script.write_text(code.replace('ENDPOINT = "127.0.0.1:8765"', f'ENDPOINT = "{endpoint}"'))
    worker_proc = subprocess.Popen([sys.executable, "-W", "ignore", str(script)], stderr=subprocess.PIPE, text=True)
    try:
        assert stateway("flow", "create", str(flow), "--endpoint", endpoint).returncode == 0
        for name, amount, approved in (("small", 50, True), ("large", 500, False)):
            assert stateway("exec", "start", "approval", "--name", name, "--input", json.dumps({"amount": amount}),
                            "--endpoint", endpoint).returncode == 0
            deadline = time.monotonic() + 30
            while True:
                out = stateway("exec", "describe", "approval", name, "--json", "--wait", "5", "--endpoint", endpoint)
                result = json.loads(out.stdout)
                if result["Status"] != "Running" or time.monotonic() > deadline:
                    break
            assert result["Status"] == "Succeeded", (result, worker_proc.poll())
            assert json.loads(result["Output"]) == {"approved": approved}
    finally:
        worker_proc.kill()
        worker_stderr = worker_proc.communicate(timeout=10)[1]
        proc.kill()  # a graceful stop would wait for the worker's long poll to time out
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
