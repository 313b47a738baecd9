"""The web console under load: time to first byte and size of its heaviest pages.

The store gets ``executions`` execution rows across five flows (written in one transaction: a
fixture, not a measurement) and one real execution whose Map writes ``events`` history events.
Each page is fetched over HTTP from a server in this process, signed in like a browser.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from stateway.api import BackgroundServer, create_app
from stateway.jsontext import dumps
from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore

KEY_ID, SECRET = "bench", "bench-secret"
FLOW = """Type: StateMachine
SpecVersion: v1
Name: fanout
StartAt: Each
States:
  - Type: Map
    Name: Each
    ItemsPath: $Input.items
    Processor:
      StartAt: Touch
      States:
        - Type: Pass
          Name: Touch
          End: true
    End: true
"""
STATUSES = ("Succeeded", "Succeeded", "Succeeded", "Failed", "Running", "Stopped")


def _fill(store: SQLiteStore, flows: list[str], count: int) -> None:
    rnd = random.Random(7)
    now = time.time()
    rows = []
    for i in range(count):
        status = STATUSES[rnd.randrange(len(STATUSES))]
        started = now - (count - i) * 0.5
        rows.append((flows[i % len(flows)], f"run-{i:07d}", status, dumps({"order": i}),
                     None if status == "Running" else dumps({"ok": True}), started,
                     None if status == "Running" else started + 0.2, "definition"))
    with store._tx() as db:  # the fixture: a real workload would take minutes to write this many
        db.executemany("INSERT INTO executions (flow_name, name, status, input, output, started, stopped, definition) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _ttfb(client: httpx.Client, url: str, runs: int) -> tuple[float, float, int]:
    """Time to the first byte of the body (ms): the first fetch, the median of the next ``runs``;
    and the page's size in bytes."""
    samples, size = [], 0
    for _ in range(runs + 1):
        began = time.perf_counter()
        with client.stream("GET", url) as response:
            assert response.status_code == 200, (url, response.status_code)
            chunks = response.iter_bytes()
            first = next(chunks)
            samples.append((time.perf_counter() - began) * 1000)
            size = len(first) + sum(len(c) for c in chunks)
    cold, warm = samples[0], sorted(samples[1:])
    return cold, warm[len(warm) // 2], size


@contextmanager
def signed_in(runtime: Runtime) -> Iterator[tuple[httpx.Client, str]]:
    """A server in this process for ``runtime``, and an HTTP client signed in to its console like a
    browser: yields the client and the console's base URL."""
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    app = create_app(runtime, {KEY_ID: SECRET})
    server = BackgroundServer(app).start()
    try:
        base = f"http://{server.endpoint}/console"
        with httpx.Client(timeout=60) as client:
            form = client.get(f"{base}/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
            client.post(f"{base}/login", data={"csrf": csrf, "access_key_id": KEY_ID, "access_key_secret": SECRET})
            yield client, base
    finally:
        server.stop()
        app.state.service.close()


def measure_pages(client: httpx.Client, base: str, pages: dict[str, str], runs: int, out: dict[str, Any]) -> None:
    """``KEY_ttfb_ms`` (median of ``runs`` warm fetches), ``KEY_first_ttfb_ms`` and ``KEY_bytes`` of each page."""
    for key, path in pages.items():
        cold, ms, size = _ttfb(client, base + path, runs)
        out[f"{key}_ttfb_ms"] = ms
        out[f"{key}_first_ttfb_ms"] = cold
        out[f"{key}_bytes"] = size


def console_pages(executions: int, events: int, runs: int = 5) -> dict[str, Any]:
    out: dict[str, Any] = {"executions": executions}
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(SQLiteStore(os.path.join(tmp, "console.db")),
                          settings=Settings.from_config({"limits": {"events": events + 100}})).start()
        try:
            flows = [f"flow{i}" for i in range(5)]
            for name in [*flows, "fanout"]:
                runtime.register_flow(name, FLOW)
            _fill(runtime.store, flows, executions)
            items = max(1, (events - 6) // 4)  # a Map item writes 4 events
            row = runtime.start_execution("fanout", {"items": [{}] * items}, "big")  # under the 64 KiB input limit
            assert runtime.wait(row.id, 600).status == "Succeeded"
            out["events"] = runtime.store.history_count(row.id)
            with signed_in(runtime) as (client, base):
                middle = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - executions * 0.25))
                measure_pages(client, base, {
                    "list": "/executions",
                    "list_status": "/executions?status=Failed",
                    "list_flow_status": "/executions?flow=flow3&status=Running",
                    "list_prefix": f"/executions?prefix=run-{executions // 2:07d}"[:-2],
                    "list_time": f"/executions?from={middle}",
                    "list_deep": f"/executions?before={executions // 2}",
                    "execution": "/flows/fanout/executions/big",
                    "execution_last_history": f"/flows/fanout/executions/big?page={out['events'] // 100 + 1}",
                    "execution_live": "/flows/fanout/executions/big/live?n=0",
                    "execution_state": "/flows/fanout/executions/big?state=Each%2FItem%2FTouch",
                }, runs, out)
        finally:
            runtime.close()
            runtime.store.close()
    return out
