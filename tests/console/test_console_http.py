"""The console over plain HTTP (no browser): access rules, CSRF, page sizes, and what the pages are made of."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from stateway.api import BackgroundServer, create_app
from stateway.console._auth import Sessions
from stateway.console._graph import flow_svg
from stateway.console._progress import read_progress
from stateway.fdl import load_flow
from stateway.runtime import Runtime
from stateway.store import SQLiteStore
from tests.console import flows

MB2 = 2 * 2**20


@pytest.fixture
def console(tmp_path):
    runtime = Runtime(SQLiteStore(str(tmp_path / "c.db"))).start()
    credentials = {"ak": "sk"}
    app = create_app(runtime, credentials)
    server = BackgroundServer(app, "127.0.0.1").start()
    with httpx.Client(base_url=f"http://{server.endpoint}", follow_redirects=False, timeout=30) as client:
        client.runtime = runtime
        client.credentials = credentials
        yield client
    server.stop()
    app.state.service.close()
    runtime.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client, key="ak", secret="sk", next_path="/console/executions") -> httpx.Response:
    form = client.get(f"/console/login?next={next_path}")
    return client.post(f"/console/login?next={next_path}", data={"csrf": _csrf(form.text), "access_key_id": key,
                                                                 "access_key_secret": secret})


def test_the_session_cookie_is_signed_httponly_samesite_and_expires(console):
    assert console.get("/console/executions").headers["location"].startswith("/console/login?next=")
    response = sign_in(console)
    assert response.status_code == 303 and response.headers["location"] == "/console/executions"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    assert console.get("/console/executions").status_code == 200
    value = console.cookies.get("stateway_console")
    payload, mac = value.split(".")
    other = "BB" if mac.endswith("AA") else "AA"  # a signature that surely differs
    forged = httpx.get(f"{console.base_url}/console/executions",
                       headers={"Cookie": f"stateway_console={payload}.{mac[:-2]}{other}"})
    assert forged.status_code == 303, "a forged cookie was accepted"
    genuine = httpx.get(f"{console.base_url}/console/executions", headers={"Cookie": f"stateway_console={value}"})
    assert genuine.status_code == 200


def test_sessions_expire_and_end_when_the_secret_changes():
    credentials = {"ak": "sk"}
    sessions = Sessions(b"x" * 32, credentials, seconds=60)
    cookie = sessions.issue("ak", now=1000.0)
    assert sessions.read(cookie, now=1059.0) is not None
    assert sessions.read(cookie, now=1061.0) is None
    credentials["ak"] = "rotated"
    assert sessions.read(cookie, now=1001.0) is None
    assert Sessions(b"y" * 32, {"ak": "sk"}).read(cookie, now=1001.0) is None, "another server's secret"


def test_a_wrong_key_and_a_login_without_its_form_are_refused(console):
    assert sign_in(console, secret="nope").status_code == 401
    response = console.post("/console/login", data={"csrf": "made-up", "access_key_id": "ak",
                                                    "access_key_secret": "sk"})
    assert response.status_code == 403 and "stateway_console" not in response.headers.get("set-cookie", "")
    response = sign_in(console, next_path="//elsewhere.example/x")
    assert response.headers["location"] == "/console/executions", "an open redirect"


def test_every_change_needs_the_csrf_token(console):
    console.runtime.register_flow("f", flows.STEPS)
    sign_in(console)
    page = console.get("/console/flows/f")
    for path, data in (("/console/flows/f/start", {"input": "{}"}), ("/console/tasks/approve", {"token": "x"}),
                       ("/console/logout", {})):
        response = console.post(path, data={**data, "csrf": "wrong"})
        assert response.status_code == 403 and "CSRF" in response.text, path
    assert console.runtime.store.page_executions(flow_name="f") == []
    response = console.post("/console/flows/f/start", data={"input": '{"a": 1}', "name": "ok", "csrf": _csrf(page.text)})
    assert response.status_code == 303 and "/executions/ok" in response.headers["location"]
    response = console.post("/console/flows/f/start", data={"input": "[1]", "name": "bad", "csrf": _csrf(page.text)})
    assert response.status_code == 400 and "must be a JSON object" in response.text
    assert [r["name"] for r in console.runtime.store.page_executions(flow_name="f")] == ["ok"]


def test_the_live_view_answers_json_and_refuses_strangers(console):
    console.runtime.register_flow("f", flows.STEPS)
    row = console.runtime.start_execution("f", {}, "e")
    assert console.get("/console/flows/f/executions/e/live").status_code == 401
    sign_in(console)
    live = console.get("/console/flows/f/executions/e/live?n=0").json()
    assert live["status"] == "Running" and set(live["parts"]) >= {"summary", "graph", "timeline", "history"}
    same = console.get(f"/console/flows/f/executions/e/live?n={live['n']}").json()
    assert "parts" not in same, "nothing changed, nothing sent"
    console.runtime.stop_execution(row.id, "E", "c")
    console.runtime.wait(row.id, 5)
    done = console.get(f"/console/flows/f/executions/e/live?n={live['n']}").json()
    assert done["final"] and 'data-status="cancelled"' in done["parts"]["graph"]


def test_express_flows_run_synchronously_from_the_form(console):
    console.runtime.register_flow("x", flows.STEPS.replace("Seconds: 2", "Seconds: 0"), {"ExecutionMode": "Express"})
    sign_in(console)
    page = console.get("/console/flows/x")
    response = console.post("/console/flows/x/start", data={"input": "{}", "csrf": _csrf(page.text)})
    assert response.status_code == 200 and "Express execution Succeeded" in response.text


def test_ten_thousand_flows_are_paged_and_searchable(console):
    store = console.runtime.store
    for i in range(10_000):
        store.put_flow(f"flow-{i:05d}", flows.CHILD, {"ExecutionMode": "Standard"}, replace=False)
    sign_in(console)
    page = console.get("/console/flows")
    assert page.status_code == 200 and len(page.content) < MB2 and "10000 flows" in page.text
    assert page.text.count('<tr><td><a href="/console/flows/flow-') == 50
    found = console.get("/console/flows?q=flow-0999")
    assert "10 flows" in found.text and "flow-09999" in found.text


def test_a_missing_execution_is_a_404_page_not_a_crash(console):
    sign_in(console)
    response = console.get("/console/flows/nope/executions/nada")
    assert response.status_code == 404 and "does not exist" in response.text


def test_on_loopback_without_keys_the_console_opens_with_the_development_pair(tmp_path):
    runtime = Runtime(SQLiteStore(str(tmp_path / "dev.db"))).start()
    app = create_app(runtime, {"test": "test"})
    server = BackgroundServer(app, "127.0.0.1").start()
    try:
        with httpx.Client(base_url=f"http://{server.endpoint}", follow_redirects=False) as client:
            response = client.get("/console/executions")
            assert response.status_code == 200 and "Sign out" in response.text
            assert "HttpOnly" in response.headers["set-cookie"]
            assert client.get("/console/tasks").status_code == 200
    finally:
        server.stop()
        app.state.service.close()
        runtime.close()


def test_the_graph_has_every_state_type_loops_and_collapsed_groups():
    svg = flow_svg(load_flow(flows.EVERYTHING))
    for kind in ("choice", "wait", "parallel", "map", "task", "fail", "succeed", "pass"):
        assert f"node-{kind}" in svg, kind
    assert svg.count("edge-catch") == 1 and "Default" in svg and "Iterator (each item)" in svg
    loop = """Type: StateMachine
SpecVersion: v1
Name: loop
StartAt: Check
States:
  - Type: Choice
    Name: Check
    Branches:
      - Condition: $Input.n > 3
        Next: Out
    Default: Again
  - Type: Pass
    Name: Again
    Next: Check
  - Type: Succeed
    Name: Out
"""
    assert 'class="edge edge-next"' in flow_svg(load_flow(loop))
    branches = "\n".join(f"      - StartAt: B{i}\n        States:\n          - Type: Pass\n            Name: B{i}\n"
                         "            End: true" for i in range(40))
    wide = (f"Type: StateMachine\nSpecVersion: v1\nName: wide\nStartAt: P\nStates:\n  - Type: Parallel\n    Name: P\n"
            f"    Branches:\n{branches}\n    End: true\n")
    svg = flow_svg(load_flow(wide))
    assert "+32 more branches" in svg and svg.count('data-path="P/Branch') == 8


def test_progress_reads_retries_waits_catches_and_cancels():
    outline = [
        (1, "ExecutionStarted", "", 10.0, 0, 0),
        (2, "StepEntered", "Ask", 10.0, 0, 0), (3, "StepStarted", "Ask", 10.0, 0, 0),
        (4, "TaskScheduled", "Ask", 10.0, 0, 0), (5, "TaskFailed", "Ask", 11.0, 4, 0),
        (6, "StepFailed", "Ask", 11.0, 0, 1),  # retried
        (7, "TaskScheduled", "Ask", 12.0, 0, 1),  # waiting for a callback
    ]
    progress = read_progress(outline)
    (visit,) = progress.visits
    assert visit.status == "waiting" and visit.attempts == 2 and visit.retries == [11.0]
    assert progress.nodes["Ask"]["status"] == "waiting"
    caught = read_progress([*outline, (8, "TaskFailed", "Ask", 13.0, 7, 0), (9, "StepFailed", "Ask", 13.0, 0, 0),
                            (10, "StepExited", "Ask", 13.0, 0, 1)])
    assert caught.nodes["Ask"]["status"] == "caught"
    stopped = read_progress([*outline, (8, "TaskCancelRequested", "Ask", 14.0, 7, 0),
                             (9, "ExecutionStopped", "", 14.0, 0, 0)])
    assert stopped.nodes["Ask"]["status"] == "cancelled" and stopped.ended == 14.0
    items = [(1, "ExecutionStarted", "", 0.0, 0, 0), (2, "StepEntered", "M", 0.0, 0, 0)]
    for i in range(1000):
        items += [(3 + 2 * i, "StepEntered", f"M/Item[{i}]/P", 1.0, 0, 0),
                  (4 + 2 * i, "StepExited", f"M/Item[{i}]/P", 2.0, 0, 0)]
    many = read_progress(items)
    assert many.nodes["M/Item/P"]["counts"]["succeeded"] == 1000 and many.nodes["M"]["status"] == "running"


def test_a_thousand_branch_map_page_stays_small(console):
    console.runtime.register_flow("m", flows.MAP)
    row = console.runtime.start_execution("m", {"items": [{"n": i, "pad": "x" * 40} for i in range(1000)]}, "big")
    assert console.runtime.wait(row.id, 30).status == "Succeeded"
    sign_in(console)
    began = time.monotonic()
    page = console.get("/console/flows/m/executions/big")
    assert page.status_code == 200 and len(page.content) < MB2 and time.monotonic() - began < 5
    assert "✓1000" in page.text
    state = console.get("/console/flows/m/executions/big?state=Each%2FItem%2FTouch")
    assert "1000 visits (the first 20 shown)" in state.text and len(state.content) < MB2
    assert console.get("/console/flows/m/executions/big?tl=11").text.count('class="gantt-row"') == 1


def test_every_example_and_conformance_flow_draws_with_all_its_states():
    from pathlib import Path

    from ruamel.yaml import YAML

    root = Path(__file__).resolve().parents[2]
    drawn = 0
    for path in [*root.glob("examples/**/*.yaml"), *root.glob("tests/conformance/cases/**/*.yaml")]:
        text = path.read_text()
        data = YAML(typ="safe").load(text)
        sources = [text] if isinstance(data, dict) and ("States" in data or "Steps" in data) else \
            [data[k] for k in ("flow", "definition") if isinstance(data, dict) and isinstance(data.get(k), str)]
        for source in sources:
            flow = load_flow(source)
            svg = flow_svg(flow)
            for name in flow.root.states:
                assert f'data-path="{name}"' in svg, (path, name)
            drawn += 1
    assert drawn >= 20
