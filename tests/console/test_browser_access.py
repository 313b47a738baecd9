"""The console in a real browser under an access policy, and signing out for good."""

from __future__ import annotations

import re

import httpx

from tests.console import flows
from tests.console.conftest import VIEWER_ID, VIEWER_SECRET, login, unique, wait_for


def test_a_read_only_key_sees_no_controls_and_its_forms_are_refused(console_server, page):
    flow = unique("approval")
    console_server.runtime.register_flow(flow, flows.APPROVAL, {"ExecutionMode": "Standard", "Type": "FDL"})
    console_server.runtime.start_execution(flow, {"order": 7}, "waiting")
    wait_for(lambda: console_server.runtime.store.open_tasks_of(flow))
    login(page, console_server, f"/flows/{flow}", VIEWER_ID, VIEWER_SECRET)
    assert page.get_by_role("heading", name=flow).is_visible()
    assert page.get_by_role("button", name="Start execution").count() == 0
    page.goto(f"{console_server.base}/flows/{flow}/executions/waiting")
    assert page.locator("#exec-status").is_visible()
    assert page.get_by_text("Stop this execution").count() == 0
    assert page.get_by_text("Approve…").count() == 0 and page.get_by_text("Reject…").count() == 0
    # a form posted anyway (with the session's own CSRF token) is refused on the server
    csrf = page.locator('form.logout input[name="csrf"]').get_attribute("value")
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "stateway_console")
    refused = httpx.post(f"{console_server.base}/flows/{flow}/executions/waiting/stop", data={"csrf": csrf},
                         headers={"Cookie": f"stateway_console={cookie}"})
    assert refused.status_code == 403 and "AccessDenied" in refused.text
    assert console_server.runtime.store.find_execution(flow, "waiting").status == "Running"


def test_a_cookie_kept_from_before_sign_out_opens_nothing(console_server, page):
    login(page, console_server)
    kept = [c for c in page.context.cookies() if c["name"] == "stateway_console"]
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login$"))
    page.context.add_cookies(kept)  # as an attacker who copied it would
    page.goto(console_server.base + "/executions")
    assert "/login" in page.url, "the session outlived its sign-out"
