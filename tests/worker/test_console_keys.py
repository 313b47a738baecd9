"""The console's waiting tasks show each task's correlation key."""

from __future__ import annotations

import time

import httpx

from stateway.api import BackgroundServer, create_app
from stateway.runtime import Runtime
from stateway.store import SQLiteStore
from tests.worker.test_heartbeats import TASK


def test_the_tasks_page_shows_correlation_keys(tmp_path):
    runtime = Runtime(SQLiteStore(str(tmp_path / "dev.db"))).start()
    app = create_app(runtime, {"test": "test"})
    server = BackgroundServer(app, "127.0.0.1").start()
    try:
        runtime.register_flow("hb", TASK.format(mode="WaitForCustomCallback", extra="\n    CorrelationKey.$: $Input.id"))
        runtime.start_execution("hb", {"id": "order-77"}, "keyed")
        deadline = time.monotonic() + 30
        while not runtime.store.task_by_key("hb", "order-77"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://{server.endpoint}") as client:
            client.get("/console/executions")  # signs in with the development pair
            page = client.get("/console/tasks")
        assert page.status_code == 200 and 'data-key="order-77"' in page.text and "key order-77" in page.text
    finally:
        server.stop()
        app.state.service.close()
        runtime.close()
