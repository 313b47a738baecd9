"""One Stateway server and one headless Chromium (Debian's, never a downloaded one) for every
console test; each test gets a fresh browser context (no cookies) and signs in like a user."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.conformance.harness import free_port

KEY_ID, SECRET = "consoleAK", "consoleSecret"
VIEWER_ID, VIEWER_SECRET = "viewerAK", "viewerSecret"  # a read-only key (role = "readonly")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "console"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def console_server(tmp_path_factory):
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    from stateway.api import BackgroundServer, create_app
    from stateway.policies import Keyring, Policy
    from stateway.runtime import Runtime
    from stateway.store import SQLiteStore

    tmp = tmp_path_factory.mktemp("console")
    port = free_port()
    runtime = Runtime(SQLiteStore(str(tmp / "console.db"))).start()
    credentials = {KEY_ID: SECRET, VIEWER_ID: VIEWER_SECRET}
    keyring = Keyring(credentials, {VIEWER_ID: Policy.parse({"role": "readonly"})})
    app = create_app(runtime, keyring, f"127.0.0.1:{port}")
    server = BackgroundServer(app, "127.0.0.1", port).start()
    server.runtime = runtime
    server.credentials = credentials
    server.base = f"http://127.0.0.1:{port}/console"
    yield server
    server.stop(force=True)
    app.state.service.close()
    runtime.close()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh temporary profile (its own --user-data-dir)
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-end.png"), full_page=True)
    except Exception:
        pass
    context.close()
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture
def fnf(console_server):
    """The official SDK, pointed at the console's server."""
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import utils_models as om

    return Client(om.Config(access_key_id=KEY_ID, access_key_secret=SECRET,
                            endpoint=console_server.base.split("//")[1].split("/")[0], protocol="http",
                            read_timeout=70000))


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def login(page, server, next_path: str = "/executions", key: str = KEY_ID, secret: str = SECRET) -> None:
    page.goto(server.base + next_path)
    page.get_by_label("Access key id").fill(key)
    page.get_by_label("Access key secret").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(server.base + next_path.split("?")[0]) + r".*"))


def unique(prefix: str) -> str:
    return f"{prefix}{time.time_ns() % 10**12}"


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(interval)
