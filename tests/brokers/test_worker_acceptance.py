"""Issue 21's acceptance through each broker: 100 executions wait on a task that a stateway.worker
worker answers; the worker is killed with kill -9 mid-way and started again; tasks answered first
by someone else do not stop it; every execution succeeds with the answer to its own message.

It runs the public API of the library (``Worker``, ``@worker.task(uri)``, ``worker.run()``) in a
process of its own, against an API server. Skipped where the library is not part of the build."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.brokers.servers import free_port
from tests.brokers.test_integrations import FLOW, nats_stream

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]
KEY_ID, SECRET = "testAK", "testSecret"
COUNT = 100

APP = """
import os
from stateway.worker import Worker

worker = Worker(concurrency=8)


@worker.task(os.environ["TEST_SOURCE"])
def answer(task):
    return {"n": task.message["n"]}


if __name__ == "__main__":
    worker.run()
"""


def _worker_library() -> None:
    try:
        from stateway.worker import Worker  # noqa: F401
    except ImportError:
        pytest.skip("stateway.worker.Worker is not in this build")


@pytest.fixture
def api(tmp_path, request):
    """An API server whose engine knows the broker of this test (``api(url)``)."""
    from stateway.api import BackgroundServer, create_app
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    made = []

    def make(url: str):
        port = free_port()
        runtime = Runtime(SQLiteStore(str(tmp_path / "api.db")),
                          settings=Settings.from_config({"brokers": {"default": {"url": url}}})).start()
        app = create_app(runtime, {KEY_ID: SECRET}, f"127.0.0.1:{port}")
        server = BackgroundServer(app, "127.0.0.1", port).start()
        made.append((server, app, runtime))
        return runtime, f"127.0.0.1:{port}"

    yield make
    for server, app, runtime in made:
        server.stop()
        app.state.service.close()
        runtime.close()


def _broker(kind: str, server) -> tuple[str, str, dict]:
    """(action, source URI, Parameters) of a queue of this test's own."""
    name = f"accept{int(time.time() * 1000) % 10**8}"
    message = {"n.$": "$Input.n"}
    if kind == "rabbitmq":
        from stateway.worker import _amqp

        _amqp.open(f"{server.url}?queue={name}").close()  # declares it (a quorum queue), so the flow can route to it
        return "RabbitMQ:SendMessage", f"{server.url}?queue={name}", {"routingKey": name, "message": message}
    if kind == "redis":
        return ("Redis:SendMessage", f"{server.url}?stream={name}&group=workers&claim_after=2",
                {"stream": name, "message": message})
    nats_stream(server.url, name.upper(), [f"{name}.>"])
    return ("NATS:SendMessage", f"{server.url}?subject={name}.jobs&stream={name.upper()}&ack_wait=2",
            {"subject": f"{name}.jobs", "message": message})


@pytest.mark.parametrize("kind", ["redis", "nats", "rabbitmq"])
def test_a_worker_killed_mid_way_answers_every_task_once(kind, api, tmp_path, request):
    _worker_library()
    server = request.getfixturevalue(f"{kind}_server")
    action, uri, params = _broker(kind, server)
    runtime, endpoint = api(server.url)
    runtime.register_flow("accept", FLOW.format(action=action, mode="WaitForCustomCallback", timeout=600,
                                                params=json.dumps(params)))
    rows = [runtime.start_execution("accept", {"n": n}) for n in range(COUNT)]
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {**os.environ, "STATEWAY_ENDPOINT": endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET, "TEST_SOURCE": uri}
    log = open(tmp_path / "worker.log", "ab")

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(app)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=tmp_path)

    def done() -> int:
        return sum(runtime.store.execution_status(r.id) == "Succeeded" for r in rows)

    worker = start()
    try:
        deadline = time.monotonic() + 120
        while done() < 30:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker answered fewer than 30 tasks in 120 s"
            time.sleep(0.005)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        # some tasks are answered first by someone else; their messages stay for the worker to drop
        answered = []
        for row in rows:
            if len(answered) == 5:
                break
            open_tasks = runtime.store.open_tasks(row.id)
            if open_tasks and runtime.store.execution_status(row.id) == "Running":
                runtime.report_success(open_tasks[0]["token"], {"by": "cli"})
                answered.append(row.id)
        worker = start()
        deadline = time.monotonic() + 240
        while done() < COUNT:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"only {done()} of {COUNT} executions succeeded"
            time.sleep(0.05)
        for n, row in enumerate(rows):
            output = runtime.store.get_execution(row.id).output
            assert output == ({"by": "cli"} if row.id in answered else {"n": n}), (n, output)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
