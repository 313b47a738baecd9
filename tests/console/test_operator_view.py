"""Issue 23 in a real browser: the graph fits at 1280 px, the state panel shows what a function
printed, and versions and aliases are on the flow page."""

from __future__ import annotations

import re
import textwrap

import pytest

from tests.console import flows
from tests.console.conftest import KEY_ID, SECRET, login, shot, unique, wait_for

PRINTER = textwrap.dedent('''
    import sys

    def handler(event, context):
        print("hello from attempt", event.get("n"))
        print("a warning", file=sys.stderr)
        return {"ok": True}
''')

LOGGED = """Type: StateMachine
SpecVersion: v1
StartAt: Say
States:
  - Type: Task
    Name: Say
    Action: FC:InvokeFunction
    Parameters:
      resourceArn: acs:fc:::functions/printer
      body:
        n.$: $Input.n
    End: true
"""


@pytest.fixture(scope="module")
def fn_server(tmp_path_factory):
    """A server whose runtime has a folder of local functions."""
    from stateway.api import BackgroundServer, create_app
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore
    from tests.conformance.harness import free_port

    tmp = tmp_path_factory.mktemp("fnconsole")
    (tmp / "functions").mkdir()
    (tmp / "functions" / "printer.py").write_text(PRINTER)
    port = free_port()
    runtime = Runtime(SQLiteStore(str(tmp / "c.db")),
                      settings=Settings.from_config(functions_dir=str(tmp / "functions"))).start()
    app = create_app(runtime, {KEY_ID: SECRET}, f"127.0.0.1:{port}")
    server = BackgroundServer(app, "127.0.0.1", port).start()
    server.runtime = runtime
    server.base = f"http://127.0.0.1:{port}/console"
    yield server
    server.stop(force=True)
    app.state.service.close()
    runtime.close()


def boxes_inside(page, scope: str) -> list[str]:
    """Paths of state boxes not fully inside the graph's visible box."""
    return page.evaluate("""(scope) => {
        const box = document.querySelector(scope + ' .graph-box').getBoundingClientRect();
        const bad = [];
        document.querySelectorAll(scope + ' .graph-box .node').forEach((n) => {
            const r = n.querySelector('rect').getBoundingClientRect();
            if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5
                || r.bottom > box.bottom + 0.5 || r.width < 1) bad.push(n.getAttribute('data-path'));
        });
        return bad;
    }""", scope)


def test_the_nested_graph_fits_at_1280_px_on_the_flow_and_execution_pages(console_server, page):
    flow = unique("nested")
    console_server.runtime.register_flow(flow, flows.NESTED, {"ExecutionMode": "Standard", "Type": "FDL"})
    login(page, console_server, f"/flows/{flow}")
    assert page.locator("#main .graph-box .node").count() == 15
    assert boxes_inside(page, "#main") == []
    page.get_by_role("button", name="Actual size").click()
    page.get_by_role("button", name="Zoom in").click()
    width = page.evaluate("document.querySelector('#main .graph-box').scrollWidth")
    assert width > page.evaluate("document.querySelector('#main .graph-box').clientWidth"), "zoom did not scroll"
    page.get_by_role("button", name="Fit to width").click()
    assert boxes_inside(page, "#main") == []
    shot(page, "graph-nested")
    row = console_server.runtime.start_execution(flow, {"n": 1, "items": [1, 2, 3]}, unique("e"))
    page.goto(f"{console_server.base}/flows/{flow}/executions/{row.name}?state=Prepare#state")
    assert boxes_inside(page, "#execution") == []  # with the state panel open beside it
    console_server.runtime.stop_execution(row.id, "Stopped", "test over")


def test_the_state_panel_shows_what_the_function_printed(fn_server, page):
    flow = unique("logged")
    fn_server.runtime.register_flow(flow, LOGGED, {"ExecutionMode": "Standard", "Type": "FDL"})
    row = fn_server.runtime.wait(fn_server.runtime.start_execution(flow, {"n": 7}, unique("e")).id, 30)
    assert row.status == "Succeeded", (row.error, row.cause)
    login(page, fn_server, f"/flows/{flow}/executions/{row.name}")
    page.locator('#execution .node[data-path="Say"]').click()
    page.wait_for_url(re.compile(r".*state=Say.*"))
    assert page.locator("#state .state-stdout").inner_text().strip() == "hello from attempt 7"
    assert page.locator("#state .state-stderr").inner_text().strip() == "a warning"
    assert "Attempt 1" in page.locator("#state .attempts-list").inner_text()
    assert page.locator('#execution .node[data-path="Say"] .counts').text_content() == "1 attempt"


def test_versions_and_aliases_are_listed_published_and_routed_from_the_flow_page(console_server, page):
    flow = unique("versioned")
    console_server.runtime.register_flow(flow, flows.STEPS, {"ExecutionMode": "Standard", "Type": "FDL"})
    login(page, console_server, f"/flows/{flow}")
    assert "No published versions" in page.locator("#versions-list").inner_text()
    for description in ("first", "second"):
        page.get_by_text("Publish a version…").click()
        page.get_by_label("Description").fill(description)
        page.get_by_role("button", name="Publish version").click()
        assert page.get_by_role("status").inner_text().startswith("Published version")
    assert page.locator("#versions-list tbody tr").all_inner_texts()[0].startswith("2\tsecond")
    page.get_by_text("Create an alias…").click()
    page.get_by_label("Alias name").fill("live")
    page.get_by_label("new alias version").fill("1")
    page.get_by_role("button", name="Create alias").click()
    assert "tick the box" not in page.content()  # the browser itself asks for the confirmation first
    page.get_by_label("Create this alias").check()
    page.get_by_role("button", name="Create alias").click()
    assert page.locator('#aliases-list [data-alias="live"] .routes').inner_text() == "100% → version 1"
    page.get_by_text("Edit the routes of live…").click()
    page.get_by_label("live route 1 weight").fill("80")
    page.get_by_label("live route 2 version").fill("2")
    page.get_by_label("live route 2 weight").fill("20")
    page.get_by_label("New executions through live follow these routes").check()
    page.get_by_role("button", name="Save routes of live").click()
    assert page.locator('#aliases-list [data-alias="live"] .routes').inner_text() == \
        "80% → version 1, 20% → version 2"
    shot(page, "versions")
    service = console_server.runtime
    row = service.start_execution(flow, {"order": 1}, unique("e"), qualifier="live")
    wait_for(lambda: service.store.get_execution(row.id).status != "Running", timeout=30)
    page.goto(f"{console_server.base}/flows/{flow}/executions/{row.name}")
    assert re.fullmatch(r"version [12] \(through alias live\)", page.locator("#exec-version").inner_text())


def test_history_filters_searches_expands_and_downloads_and_the_timeline_has_an_axis(console_server, page):
    flow = unique("hist")
    console_server.runtime.register_flow(flow, flows.STEPS, {"ExecutionMode": "Standard", "Type": "FDL"})
    runtime = console_server.runtime
    row = runtime.wait(runtime.start_execution(flow, {"order": 42}, unique("e")).id, 30)
    login(page, console_server, f"/flows/{flow}/executions/{row.name}")
    assert page.locator("#timeline .gantt-axis .tick").count() >= 2
    page.get_by_label("Event type").select_option("StepEntered")
    page.get_by_role("button", name="Filter").click()
    types = set(page.locator("#history .events li").evaluate_all("(ls) => ls.map((l) => l.dataset.type)"))
    assert types == {"StepEntered"}
    page.get_by_role("button", name="Expand all").click()
    assert page.locator("#history details[open]").count() == page.locator("#history details").count() > 0
    page.get_by_role("button", name="Collapse all").click()
    assert page.locator("#history details[open]").count() == 0
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Search").fill("ExecutionSucceeded")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("#history .events li").evaluate_all("(ls) => ls.map((l) => l.dataset.type)") == \
        ["ExecutionSucceeded"]
    with page.expect_download() as info:
        page.get_by_role("link", name="Download as JSON").click()
    import json
    events = json.loads(open(info.value.path()).read())
    assert events[0]["Type"] == "ExecutionStarted" and events[-1]["Type"] == "ExecutionSucceeded"
    assert len(events) == runtime.store.history_count(row.id)
