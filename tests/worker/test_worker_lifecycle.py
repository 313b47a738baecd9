"""The Worker's life: started before the server listens, through a server restart, a graceful stop that
reports what runs, a stop that outlasts shutdown_seconds, and the errors of open_source."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import types

import pytest

from stateway.client import RpcClient
from stateway.worker import SourceError, open_source
from stateway.worker import source as source_module
from tests.conformance.harness import free_port
from tests.worker.helpers import Running, create_flow, flow_text, make_worker, output_of, wait_for


def _serve(tmp_path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "stateway.cli", "serve", "--port", str(port), "--data-dir",
                             str(tmp_path / "data")], stderr=subprocess.PIPE, text=True)
    client = RpcClient(f"127.0.0.1:{port}", "test", "test")
    deadline = time.monotonic() + 30
    while True:
        try:
            client.call("ListFlows")
            return proc
        except Exception:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)


def _answered(client: RpcClient, name: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        result = client.call("DescribeExecution", FlowName="late", ExecutionName=name, WaitTimeSeconds=10)
        if result["Status"] != "Running" or time.monotonic() > deadline:
            return result


def test_a_worker_started_before_the_server_and_kept_through_a_restart(tmp_path, caplog):
    from stateway.worker import Worker

    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    worker = Worker(endpoint, "test", "test", poll_seconds=2)

    @worker.task("mns://late-q", token_field="ticket")
    def handle(task):
        return {"n": task.message["n"]}

    with Running(worker):
        time.sleep(1.5)  # connection refused meanwhile: the worker waits for the server
        proc = _serve(tmp_path, port)
        try:
            client = RpcClient(endpoint, "test", "test")
            flow = flow_text("late", "late-q").replace("taskToken.$:", "ticket.$:")
            client.call("CreateFlow", Name="late", Definition=flow, Description="", Type="FDL")
            client.call("StartExecution", FlowName="late", ExecutionName="before", Input='{"n": 1}')
            assert _answered(client, "before")["Status"] == "Succeeded"
            _stop(proc)  # the worker's long poll ends with ServiceUnavailable; it waits for the server again
            proc = _serve(tmp_path, port)
            client = RpcClient(endpoint, "test", "test")
            client.call("StartExecution", FlowName="late", ExecutionName="after", Input='{"n": 2}')
            result = _answered(client, "after")
            assert result["Status"] == "Succeeded" and json.loads(result["Output"]) == {"n": 2}
        finally:
            _stop(proc)
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks"


def test_a_graceful_stop_finishes_and_reports_what_runs(server):
    name = create_flow(server, flow_text("graceful", "graceful-q"))
    worker = make_worker(server, shutdown_seconds=30)
    started = threading.Event()

    @worker.task("mns://graceful-q")
    def handle(task):
        started.set()
        time.sleep(1.5)
        return {"finished": True}

    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    row = server.runtime.start_execution(name, {"n": 1})
    assert started.wait(30)
    worker.stop()  # as SIGTERM does
    thread.join(timeout=60)
    assert not thread.is_alive()
    end = server.runtime.wait(row.id, 30)
    assert end.status == "Succeeded" and output_of(end) == {"finished": True}
    info = server.runtime.store.get_queue("graceful-q")
    assert info["active"] + info["inactive"] == 0  # acknowledged before run() returned


def test_a_handler_running_past_shutdown_seconds_gives_its_message_back(server):
    name = create_flow(server, flow_text("stuck", "stuck-q"))
    worker = make_worker(server, shutdown_seconds=0.5)
    started, release = threading.Event(), threading.Event()

    @worker.task("mns://stuck-q")
    def handle(task):
        started.set()
        release.wait(30)
        return {}

    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    row = server.runtime.start_execution(name, {"n": 1})
    assert started.wait(30)
    worker.stop()
    thread.join(timeout=30)
    assert not thread.is_alive() and worker.stats["released"] == 1
    release.set()
    info = wait_for(lambda: (i := server.runtime.store.get_queue("stuck-q")) and i["active"] == 1 and i,
                    what="the message visible again")
    assert info["inactive"] == 0
    # another worker takes it and answers
    second = make_worker(server)

    @second.task("mns://stuck-q")
    def again(task):
        return {"second": True}

    with Running(second):
        end = server.runtime.wait(row.id, 60)
    assert end.status == "Succeeded" and output_of(end) == {"second": True}


def test_open_source_errors_are_clear(monkeypatch):
    with pytest.raises(SourceError, match="the scheme must be one of"):
        open_source("kafka://broker/topic")

    def missing(name):
        raise ImportError("No module named 'pika'", name="pika")

    monkeypatch.setattr(source_module.importlib, "import_module", missing)
    with pytest.raises(SourceError, match=r"pip install stateway\[rabbitmq\]"):
        open_source("amqp://guest:guest@localhost/?queue=q")

    seen = {}
    fake = types.SimpleNamespace(open=lambda uri, **options: seen.update(uri=uri, **options) or "source")
    monkeypatch.setattr(source_module.importlib, "import_module", lambda name: fake)
    assert open_source("redis://localhost/0?stream=s&group=g", block=1) == "source"
    assert seen == {"uri": "redis://localhost/0?stream=s&group=g", "block": 1, "max_deliveries": 5}


def test_task_worker_refuses_a_bad_app_clearly(tmp_path):
    from tests.test_serve_cli import stateway

    bad = tmp_path / "bad.py"
    bad.write_text('from stateway.worker import Worker\nworker = Worker()\n\n@worker.task("kafka://x")\n'
                   "def h(task):\n    return {}\n")
    out = stateway("task-worker", str(bad))
    assert out.returncode == 1 and "unknown source 'kafka://x'" in out.stderr and "Traceback" not in out.stderr
    out = stateway("task-worker", f"{bad}:other")
    assert out.returncode == 2 and "has no Worker named 'other'" in out.stderr
    out = stateway("task-worker", str(tmp_path / "missing.py"))
    assert out.returncode == 2 and "no such file" in out.stderr
