"""The console's operator pages over HTTP: the Redrive button, acting on selected executions and on
all matching ones (a bulk operation), the bulk pages with their counts, and CSRF on each form."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from stateway.api import BackgroundServer, create_app
from stateway.runtime import Runtime
from stateway.store import SQLiteStore
from tests.console.test_console_http import _csrf, sign_in

FAILS = "Type: StateMachine\nSpecVersion: v1\nStartAt: F\nStates:\n  - {Type: Fail, Name: F, Code: Boom}\n"
WAITS = "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n  - {Type: Wait, Name: W, Seconds: 3600, End: true}\n"


@pytest.fixture
def console(tmp_path):
    runtime = Runtime(SQLiteStore(str(tmp_path / "c.db"))).start()
    app = create_app(runtime, {"ak": "sk"})
    server = BackgroundServer(app, "127.0.0.1").start()
    with httpx.Client(base_url=f"http://{server.endpoint}", follow_redirects=False, timeout=30) as client:
        client.runtime = runtime
        client.app = app.state.app
        yield client
    server.stop()
    app.state.service.close()
    runtime.close()


def until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_redrive_button_and_bulk_pages(console):
    sw = console.app
    sw.flows.create("fails", FAILS)
    sw.flows.create("waits", WAITS)
    row = sw.executions.wait(sw.executions.start("fails", {}, "one"), 10)
    assert sign_in(console).status_code == 303
    page = console.get("/console/flows/fails/executions/one")
    assert 'action="/console/flows/fails/executions/one/redrive"' in page.text
    forged = console.post("/console/flows/fails/executions/one/redrive", data={"csrf": "nope"})
    assert forged.status_code == 403 and sw.store.get_execution(row.id).redrive_count == 0
    done = console.post("/console/flows/fails/executions/one/redrive", data={"csrf": _csrf(page.text)})
    assert done.status_code == 303 and "notice=Redriven" in done.headers["location"]
    until(lambda: sw.store.get_execution(row.id).status == "Failed" and sw.store.get_execution(row.id).redrive_count)

    for i in range(12):
        sw.executions.start("waits", {}, f"w{i}")
    listing = console.get("/console/executions?flow=waits")
    assert listing.text.count('name="pick"') == 12 and "all matching executions" in listing.text
    csrf = _csrf(listing.text)
    picked = console.post("/console/bulk", data={"csrf": csrf, "operation": "stop", "scope": "selected",
                                                 "pick": ["waits/w0", "waits/w1"]})
    assert picked.status_code == 303 and "2+of+2" in picked.headers["location"]
    until(lambda: sw.executions.describe("waits", "w1").status == "Stopped")
    assert sw.executions.describe("waits", "w2").status == "Running"
    started = console.post("/console/bulk", data={"csrf": csrf, "operation": "stop", "scope": "matching",
                                                  "filter-flow": "waits", "filter-status": "Running"})
    assert started.status_code == 303
    job_path = started.headers["location"].split("?")[0]
    job_id = job_path.rsplit("/", 1)[1]
    until(lambda: sw.bulk.describe(job_id)["status"] == "Succeeded")
    job_page = console.get(job_path).text
    assert re.search(r'id="done">10<', job_page) and re.search(r'id="skipped">0<', job_page)
    assert job_id in console.get("/console/bulk").text
    assert console.get("/console/bulk/bulk-none").status_code == 404
