"""The console in a real browser (headless Debian Chromium through Playwright), used as a person would."""

from __future__ import annotations

import json
import re
import time

from alibabacloud_fnf20190315 import models as fm

from tests.console import flows
from tests.console.conftest import login, shot, unique, wait_for


def node(page, path: str):
    return page.locator(f'#execution [data-part="graph"] .node[data-path="{path}"]')


def status_of(page, path: str) -> str:
    return node(page, path).get_attribute("data-status") or ""


def register(server, name: str, definition: str, **meta) -> str:
    server.runtime.register_flow(name, definition, {"ExecutionMode": "Standard", "Type": "FDL", **meta})
    return name


def test_sign_in_refuses_a_wrong_secret_and_the_session_ends_when_the_key_goes(console_server, page):
    page.goto(console_server.base + "/flows")
    assert "/login" in page.url
    page.get_by_label("Access key id").fill("consoleAK")
    page.get_by_label("Access key secret").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("That access key id and secret do not match")
    page.get_by_label("Access key secret").fill("consoleSecret")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(console_server.base + "/flows")
    cookie = next(c for c in page.context.cookies() if c["name"] == "stateway_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time()
    shot(page, "flows")
    secret = console_server.credentials.pop("consoleAK")
    try:
        page.goto(console_server.base + "/executions")
        assert "/login" in page.url, "a session outlived its key's removal"
    finally:
        console_server.credentials["consoleAK"] = secret
    login(page, console_server)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto(console_server.base + "/executions")
    assert "/login" in page.url


def test_start_from_the_form_and_watch_the_graph_turn_green_state_by_state(console_server, page):
    flow = register(console_server, unique("steps"), flows.STEPS)
    login(page, console_server, f"/flows/{flow}")
    editor = page.get_by_label("Input (JSON object)")
    editor.fill('{"order": 1,')
    page.get_by_role("button", name="Start execution").click()
    assert "not valid JSON" in page.locator("#start-form .json-error").inner_text()
    assert console_server.runtime.store.page_executions(flow_name=flow) == [], "bad JSON was sent"
    editor.fill('{"order": 1}')
    page.get_by_label("Execution name (optional)").fill("watched")
    page.get_by_role("button", name="Start execution").click()
    page.wait_for_url(re.compile(r".*/executions/watched.*"))
    page.evaluate("window.stillThisPage = true")
    # every picture of the graph the page shows, from now until the end
    page.evaluate("""() => {
        window.seen = [];
        const snap = () => window.seen.push(Object.fromEntries([...document.querySelectorAll(
            '[data-part="graph"] .node')].map(n => [n.dataset.path, n.dataset.status])));
        snap();
        new MutationObserver(snap).observe(document.querySelector('[data-part="graph"]'), {childList: true});
    }""")
    page.wait_for_function("() => document.querySelector('#exec-status').innerText.includes('Succeeded')")
    seen = page.evaluate("window.seen")
    path = ["First", "WaitOne", "Middle", "WaitTwo", "Done"]
    assert seen[-1] == dict.fromkeys(path, "succeeded"), seen[-1]
    assert page.evaluate("window.stillThisPage") is True, "the page reloaded"
    # the page followed the execution without a reload, one state after another
    assert {"First": "succeeded", "WaitOne": "running", "Middle": "notreached"}.items() <= \
        next(s for s in seen if s["WaitOne"] == "running").items(), seen
    assert {"WaitOne": "succeeded", "Middle": "succeeded", "WaitTwo": "running", "Done": "notreached"}.items() <= \
        next(s for s in seen if s["WaitTwo"] == "running").items(), seen
    turned_green = [next(i for i, s in enumerate(seen) if s[state] == "succeeded") for state in path]
    assert turned_green == sorted(turned_green) and len(seen) >= 3, seen
    shot(page, "execution-succeeded")
    bars = page.locator('[data-part="timeline"] .gantt-row')
    assert bars.count() == 5 and "WaitOne" in bars.nth(1).inner_text()
    node(page, "WaitOne").click()
    page.wait_for_url(re.compile(r".*state=WaitOne.*"))
    assert page.locator("#state .state-input").inner_text().strip().startswith("{")
    assert "Attempts: 0" in page.locator("#state").inner_text()


def test_approve_from_the_list_then_the_sdk_sees_the_approved_output(console_server, page, fnf):
    flow = register(console_server, unique("approve"), flows.APPROVAL)
    name = unique("order")
    fnf.start_execution(fm.StartExecutionRequest(flow_name=flow, execution_name=name, input='{"order": 7}'))
    login(page, console_server, "/tasks")
    row = page.locator(f'#tasks tr[data-execution="{name}"]')
    wait_for(lambda: page.reload() or row.count() == 1)
    assert row.locator("td").nth(2).inner_text() == "Ask" and "ends in " in row.locator("td").nth(4).inner_text()
    stale = page.context.new_page()  # a second tab that still shows the task as open
    stale.goto(page.url)
    row.get_by_text("Approve…").click()
    editor = row.get_by_label("Output (JSON object)")
    editor.fill("[1, 2]")
    row.get_by_role("button", name="Approve").click()
    assert "must be an object" in row.locator(".json-error").first.inner_text()
    editor.fill('{"approved": true, "by": "console"}')
    shot(page, "tasks")
    row.get_by_role("button", name="Approve").click()
    assert "approved" in page.get_by_role("status").inner_text()
    described = fnf.describe_execution(fm.DescribeExecutionRequest(flow_name=flow, execution_name=name,
                                                                   wait_time_seconds=10)).body
    assert described.status == "Succeeded"
    assert json.loads(described.output) == {"approved": True, "by": "console"}
    stale_row = stale.locator(f'#tasks tr[data-execution="{name}"]')
    stale_row.get_by_text("Approve…").click()
    stale_row.get_by_role("button", name="Approve").click()
    assert "already completed" in stale.get_by_role("alert").inner_text()
    stale.close()


def test_reject_from_the_execution_page_takes_the_catch_path(console_server, page, fnf):
    flow = register(console_server, unique("reject"), flows.APPROVAL)
    name = unique("order")
    fnf.start_execution(fm.StartExecutionRequest(flow_name=flow, execution_name=name, input='{"order": 8}'))
    login(page, console_server, f"/flows/{flow}/executions/{name}")
    page.wait_for_function("""() => document.querySelector('[data-path="Ask"]').dataset.status === 'waiting'""")
    shot(page, "execution-waiting")
    tasks = page.locator('[data-part="tasks"]')
    tasks.get_by_text("Reject…").click()
    tasks.get_by_label("Error").fill("Rejected")
    tasks.get_by_label("Cause").fill("too expensive")
    tasks.get_by_role("button", name="Reject").click()
    assert "rejected" in page.get_by_role("status").inner_text()
    page.wait_for_function("() => document.querySelector('#exec-status').innerText.includes('Succeeded')")
    assert status_of(page, "Ask") == "caught"
    assert status_of(page, "Refused") == "succeeded" and status_of(page, "Accepted") == "notreached"
    node(page, "Ask").click()
    page.wait_for_url(re.compile(r".*state=Ask.*"))
    assert "Rejected: too expensive" in page.locator("#state .state-error").inner_text()
    assert "Attempts: 1" in page.locator("#state").inner_text()
    shot(page, "execution-caught")


def test_stop_stops_the_child_too_and_they_link_both_ways(console_server, page):
    child = register(console_server, unique("child"), flows.CHILD)
    parent = register(console_server, unique("parent"), flows.PARENT % child)
    row = console_server.runtime.start_execution(parent, {}, "boss")
    login(page, console_server, f"/flows/{parent}/executions/boss")
    page.wait_for_selector('[data-part="children"] a')
    child_name = page.locator('[data-part="children"] a').first.inner_text()
    page.get_by_text("Stop this execution…").click()
    page.get_by_label("Cause").fill("no longer needed")
    page.get_by_role("button", name="Stop execution").click()
    assert "Stop requested" in page.get_by_role("status").inner_text()
    page.wait_for_function("() => document.querySelector('#exec-status').innerText.includes('Stopped')")
    assert console_server.runtime.store.get_execution(row.id).cause == "no longer needed"
    page.locator('[data-part="children"] a').first.click()
    page.wait_for_url(re.compile(rf".*/flows/{child}/executions/{child_name}$"))
    page.wait_for_function("() => document.querySelector('#exec-status').innerText.includes('Stopped')", timeout=15000)
    assert status_of(page, "Linger") == "cancelled"
    page.locator("#parent a").click()
    page.wait_for_url(re.compile(rf".*/flows/{parent}/executions/boss$"))


def test_page_through_a_long_history(console_server, page):
    flow = register(console_server, unique("many"), flows.MAP)
    row = console_server.runtime.start_execution(flow, {"items": [{"n": i} for i in range(300)]}, "long")
    assert console_server.runtime.wait(row.id, 20).status == "Succeeded"
    total = console_server.runtime.store.history_count(row.id)
    assert total > 1000
    login(page, console_server, f"/flows/{flow}/executions/long")
    history = page.locator('[data-part="history"]')
    assert history.locator("li").count() == 100
    assert history.locator("li").first.locator(".ev-type").inner_text() == "ExecutionStarted"
    history.get_by_role("link", name="Next ›").first.click()
    page.wait_for_url(re.compile(r".*page=2.*"))
    assert page.locator('[data-part="history"] li').first.locator(".ev-id").inner_text() == "#101"
    page.locator('[data-part="history"]').get_by_role("link", name="Last »").first.click()
    last = page.locator('[data-part="history"] li')
    assert last.last.locator(".ev-type").inner_text() == "ExecutionSucceeded"
    assert last.last.locator(".ev-id").inner_text() == f"#{total}"
    last.last.locator("summary").click()
    assert '"output"' in last.last.locator("pre").inner_text()
    # one node stands for the 300 items of the Map; its counts say how many
    assert "✓300" in node(page, "Each/Item/Touch").text_content()
    shot(page, "execution-history")


def test_filter_the_executions_list(console_server, page):
    flow_a = register(console_server, unique("filterA"), flows.STEPS.replace("Seconds: 2", "Seconds: 0"))
    flow_b = register(console_server, unique("filterB"), flows.CHILD)
    runtime = console_server.runtime
    for i in range(3):
        runtime.wait(runtime.start_execution(flow_a, {}, f"alpha-{i}").id, 10)
    running = runtime.start_execution(flow_b, {}, "beta-1")
    stopped = runtime.start_execution(flow_b, {}, "alpha-stopped")
    runtime.stop_execution(stopped.id, "Op", "test")
    runtime.wait(stopped.id, 5)
    login(page, console_server, "/executions")
    page.get_by_label("Flow").fill(flow_a)
    page.get_by_role("button", name="Filter").click()
    names = lambda: page.locator("#executions tbody tr td:nth-child(2)").all_inner_texts()  # noqa: E731
    assert names() == ["alpha-2", "alpha-1", "alpha-0"]
    page.get_by_label("Flow").fill(flow_b)
    page.get_by_label("Status").select_option("Running")
    page.get_by_role("button", name="Filter").click()
    assert names() == ["beta-1"]
    page.get_by_label("Flow").fill("")
    page.get_by_label("Status").select_option("")
    page.get_by_label("Name starts with").fill("alpha-s")
    page.get_by_role("button", name="Filter").click()
    assert names() == ["alpha-stopped"]
    page.get_by_label("Name starts with").fill("")
    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(running.started + 3600))
    page.get_by_label("Started from (UTC)").fill(later)
    page.get_by_role("button", name="Filter").click()
    assert names() == []
    page.get_by_label("Started from (UTC)").fill("")
    page.get_by_label("Flow").fill(flow_a)
    page.get_by_role("button", name="Filter").click()
    assert len(names()) == 3
    shot(page, "executions")


def test_executions_list_pages_on_the_server(console_server, page):
    flow = register(console_server, unique("paged"), flows.STEPS.replace("Seconds: 2", "Seconds: 0"))
    store = console_server.runtime.store
    for i in range(120):
        store.create_execution(flow, f"p-{i:03d}", {}, time.time())
    login(page, console_server, f"/executions?flow={flow}")
    names = lambda: page.locator("#executions tbody tr td:nth-child(2)").all_inner_texts()  # noqa: E731
    first = names()
    assert len(first) == 50 and first[0] == "p-119"
    page.get_by_role("link", name="Older ›").click()
    assert names()[0] == "p-069"
    page.get_by_role("link", name="Older ›").click()
    assert names()[-1] == "p-000" and page.get_by_role("link", name="Older ›").count() == 0
    page.get_by_role("link", name="‹ Newer").click()
    assert names()[0] == "p-069" and names()[-1] == "p-020"


def test_flow_page_draws_every_state_type_and_switches_schedules(console_server, page, fnf):
    flow = register(console_server, unique("everything"), flows.EVERYTHING, Description="all the shapes")
    fnf.create_schedule(fm.CreateScheduleRequest(flow_name=flow, schedule_name="nightly",
                                                 cron_expression="0 0 3 * * *", enable=False))
    login(page, console_server, f"/flows?q={flow[:12]}")
    assert flow in page.locator("#flows").inner_text() and "Standard" in page.locator("#flows").inner_text()
    page.get_by_role("link", name=flow).click()
    graph = page.locator(".graph-box svg")
    for path in ("Route", "Pause", "Fanout", "Fanout/Branch0/Left", "Fanout/Branch1/Right", "Each",
                 "Each/Item/Work", "Send", "Oops", "Done"):
        assert graph.locator(f'[data-path="{path}"]').count() == 1, path
    assert graph.locator(".node-parallel.group").count() == 1 and graph.locator(".node-map.group").count() == 1
    assert graph.locator(".edge-catch").count() == 1 and graph.locator(".edge-default").count() == 1
    assert graph.locator(".edge-label-choice").text_content() == '$Input.kind == "fast"'
    definition = page.locator("pre.definition")
    assert definition.locator(".ln").count() == len(flows.EVERYTHING.splitlines())
    shot(page, "flow")
    page.get_by_role("button", name="Enable nightly").click()
    assert "enabled" in page.get_by_role("status").inner_text()
    schedule = fnf.describe_schedule(fm.DescribeScheduleRequest(flow_name=flow, schedule_name="nightly")).body
    assert schedule.enable is True
    page.get_by_role("button", name="Disable nightly").click()
    schedule = fnf.describe_schedule(fm.DescribeScheduleRequest(flow_name=flow, schedule_name="nightly")).body
    assert schedule.enable is False


def test_queues_show_counts_and_peek(console_server, page):
    store = console_server.runtime.store
    queue = unique("jobs")
    now = time.time()
    store.send_message(queue, '{"n": 1}', 8, 0, now)
    store.send_message(queue, '{"n": 2}', 8, 0, now)
    store.send_message(queue, '{"n": 3}', 8, 600, now)
    store.receive_messages(queue, now, 1, 600)
    login(page, console_server, "/queues")
    row = page.locator("#queues tr", has_text=queue)
    assert row.locator("td").all_inner_texts()[1:] == ["1", "1", "1"]
    row.get_by_role("link", name=queue).click()
    assert page.locator(".messages pre").all_inner_texts() == ['{"n": 2}']
    shot(page, "queue")


def test_phone_layout_has_no_sideways_scroll(console_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        tab = context.new_page()
        login(tab, console_server, "/executions")
        for path in ("/executions", "/tasks", "/flows", "/queues"):
            tab.goto(console_server.base + path)
            assert tab.evaluate("document.documentElement.scrollWidth") <= 391, path
        tab.keyboard.press("Tab")
        assert tab.evaluate("document.activeElement.textContent") == "Skip to content"
        shot(tab, "phone-executions")
    finally:
        context.close()
