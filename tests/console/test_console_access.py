"""The console under access policies and server-side sessions: sign-out and key removal end a
session for good, a read-only key sees no controls and its POSTs are refused, a key limited to
some flows sees only those."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from stateway.api import BackgroundServer, create_app
from stateway.console._auth import Sessions
from stateway.policies import Keyring, Policy
from stateway.runtime import Runtime
from stateway.store import SQLiteStore
from tests.console import flows


@pytest.fixture
def console(tmp_path):
    runtime = Runtime(SQLiteStore(str(tmp_path / "c.db"))).start()
    keyring = Keyring({"ak": "sk", "viewer": "v", "orders": "o"},
                      {"viewer": Policy.parse({"role": "readonly"}), "orders": Policy(flows=("orders-*",))})
    app = create_app(runtime, keyring)
    server = BackgroundServer(app, "127.0.0.1").start()
    runtime.register_flow("orders-eu", flows.APPROVAL.replace("approval", "orders-eu"))
    runtime.register_flow("billing", flows.APPROVAL.replace("approval", "billing"))
    for flow in ("orders-eu", "billing"):
        runtime.start_execution(flow, {"order": 1}, "e1")
    deadline = time.monotonic() + 30
    while len(runtime.store.open_tasks_of(None)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    clients = []

    def client() -> httpx.Client:
        clients.append(httpx.Client(base_url=f"http://{server.endpoint}", follow_redirects=False, timeout=30))
        return clients[-1]

    client.runtime, client.keyring, client.endpoint = runtime, keyring, server.endpoint
    yield client
    for c in clients:
        c.close()
    server.stop()
    app.state.service.close()
    runtime.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client: httpx.Client, key: str, secret: str) -> None:
    form = client.get("/console/login")
    response = client.post("/console/login", data={"csrf": _csrf(form.text), "access_key_id": key,
                                                   "access_key_secret": secret})
    assert response.status_code == 303


def test_sign_out_ends_the_session_for_good(console):
    user = console()
    sign_in(user, "ak", "sk")
    cookie = user.cookies.get("stateway_console")
    page = user.get("/console/executions")
    assert page.status_code == 200
    assert user.post("/console/logout", data={"csrf": _csrf(page.text)}).status_code == 303
    replayed = httpx.get(f"http://{console.endpoint}/console/executions",
                         headers={"Cookie": f"stateway_console={cookie}"})
    assert replayed.status_code == 303 and "/console/login" in replayed.headers["location"], "the old cookie still works"


def test_removing_a_key_ends_its_sessions(console):
    user = console()
    sign_in(user, "viewer", "v")
    assert user.get("/console/executions").status_code == 200
    keep = dict(console.keyring)
    policies = {k: console.keyring.policy(k) for k in keep}
    console.keyring.replace({k: s for k, s in keep.items() if k != "viewer"}, policies)
    assert user.get("/console/executions").status_code == 303
    console.keyring.replace(keep, policies)  # the key back, the session stays ended
    assert user.get("/console/executions").status_code == 303


def test_sessions_live_in_the_store_so_every_node_agrees(tmp_path):
    store = SQLiteStore(str(tmp_path / "s.db"))
    try:
        keys = {"ak": "sk"}
        one, two = Sessions(store.get_secret(), keys, store=store), Sessions(store.get_secret(), keys, store=store)
        cookie = one.issue("ak")
        session = two.read(cookie)
        assert session is not None and one.read(cookie) is not None
        two.end(session)
        assert one.read(cookie) is None, "signed out on one node, still signed in on another"
        expired = one.issue("ak", now=time.time() - 10 * 3600)
        assert one.read(expired) is None
    finally:
        store.close()


def test_a_read_only_key_sees_no_controls_and_its_posts_are_refused(console):
    viewer, admin = console(), console()
    sign_in(viewer, "viewer", "v")
    sign_in(admin, "ak", "sk")
    for page_path, control in (("/console/flows/billing", "Start execution"),
                               ("/console/flows/billing/executions/e1", "Stop execution"),
                               ("/console/flows/billing/executions/e1", "Approve"),
                               ("/console/tasks", "Approve"), ("/console/tasks", "Reject")):
        assert control in admin.get(page_path).text, (page_path, control)
        page = viewer.get(page_path)
        assert page.status_code == 200 and control not in page.text, (page_path, control)
    csrf = _csrf(viewer.get("/console/executions").text)
    token = next(t["token"] for t in console.runtime.store.open_tasks_of("billing"))
    for path, data in (("/console/flows/billing/start", {"input": "{}"}),
                       ("/console/flows/billing/executions/e1/stop", {}),
                       ("/console/tasks/approve", {"token": token, "output": "{}"}),
                       ("/console/tasks/reject", {"token": token, "error": "No"})):
        refused = viewer.post(path, data={**data, "csrf": csrf})
        assert refused.status_code == 403 and "AccessDenied" in refused.text, path
    assert console.runtime.store.find_execution("billing", "e1").status == "Running"
    assert len(console.runtime.store.page_executions(flow_name="billing")) == 1


def test_a_key_limited_to_some_flows_sees_only_those(console):
    user = console()
    sign_in(user, "orders", "o")
    for path in ("/console/flows", "/console/executions", "/console/tasks"):
        page = user.get(path)
        assert page.status_code == 200 and "orders-eu" in page.text and "billing" not in page.text, path
    for path in ("/console/flows/billing", "/console/flows/billing/executions/e1",
                 "/console/flows/billing/executions/e1/live", "/console/executions?flow=billing"):
        refused = user.get(path)
        assert refused.status_code == 403 and "AccessDenied" in refused.text, path
    token = next(t["token"] for t in console.runtime.store.open_tasks_of("billing"))
    csrf = _csrf(user.get("/console/executions").text)
    assert user.post("/console/tasks/approve", data={"token": token, "output": "{}", "csrf": csrf}).status_code == 403
    assert console.runtime.store.find_execution("billing", "e1").status == "Running"


def test_the_console_opens_on_the_first_page_the_key_may_see(console):
    console.keyring.replace({**dict(console.keyring), "answerer": "a"},
                            {**{k: console.keyring.policy(k) for k in console.keyring},
                             "answerer": Policy(allow=("fnf:ListOpenTasks", "fnf:ReportTask*"))})
    user = console()
    sign_in(user, "answerer", "a")
    landing = user.get("/console/")
    assert landing.status_code == 303 and landing.headers["location"].endswith("/console/tasks")
    tasks = user.get("/console/tasks")
    assert tasks.status_code == 200 and "Approve" in tasks.text
    assert user.get("/console/executions").status_code == 403
