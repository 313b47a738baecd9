"""Screenshots of the console for the README: ``.venv/bin/python -m tests.console.make_screenshots``.

Starts a server on 127.0.0.1 with a few executions of an order flow (one waiting for approval,
one rejected and caught, one stopped) and photographs the main pages into docs/img/."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from stateway.api import BackgroundServer, create_app
from stateway.runtime import Runtime
from stateway.store import SQLiteStore
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"
ORDER = """Type: StateMachine
SpecVersion: v1
Name: order
StartAt: CheckAmount
States:
  - Type: Choice
    Name: CheckAmount
    Branches:
      - Condition: $Input.amount > 1000
        Next: Approve
    Default: Prepare
  - Type: Task
    Name: Approve
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 86400
    Parameters:
      resourceArn: acs:mns:::/queues/approvals/messages
      message: {token.$: $Context.Current.TaskToken, amount.$: $Input.amount}
    Catch:
      - Errors: [Rejected]
        Next: Refuse
    Next: Prepare
  - Type: Parallel
    Name: Prepare
    Branches:
      - StartAt: Reserve
        States:
          - Type: Pass
            Name: Reserve
            End: true
      - StartAt: Invoice
        States:
          - Type: Wait
            Name: Invoice
            Seconds: 1
            End: true
    Next: Ship
  - Type: Map
    Name: Ship
    ItemsPath: $Input.lines
    Processor:
      StartAt: Pack
      States:
        - Type: Pass
          Name: Pack
          End: true
    Next: Done
  - Type: Pass
    Name: Refuse
    End: true
  - Type: Succeed
    Name: Done
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(SQLiteStore(f"{tmp}/shots.db")).start()
        app = create_app(runtime, {"demo": "demo-secret"})
        server = BackgroundServer(app, "127.0.0.1").start()
        base = f"http://{server.endpoint}/console"
        try:
            runtime.register_flow("order", ORDER, {"ExecutionMode": "Standard", "Description": "orders over 1000 "
                                                   "need a person's approval"})
            lines = [{"sku": f"A-{i}"} for i in range(12)]
            for i in range(6):
                runtime.start_execution("order", {"amount": 100 + i, "lines": lines}, f"order-{1040 + i}")
            big = runtime.start_execution("order", {"amount": 4200, "lines": lines}, "order-1046")
            runtime.start_execution("order", {"amount": 2500, "lines": lines}, "order-1047")
            time.sleep(2.5)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                page.goto(base + "/executions")
                page.get_by_label("Access key id").fill("demo")
                page.get_by_label("Access key secret").fill("demo-secret")
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(base + "/executions")
                page.screenshot(path=str(OUT / "console-executions.png"))
                page.goto(base + "/tasks")
                page.locator("#tasks tr", has_text="order-1046").get_by_text("Approve…").click()
                page.screenshot(path=str(OUT / "console-tasks.png"))
                page.goto(base + "/flows/order/executions/order-1046")
                page.screenshot(path=str(OUT / "console-execution.png"))
                token = runtime.store.open_tasks(big.id)[0]["token"]
                runtime.report_failure(token, "Rejected", "over budget")
                runtime.wait(big.id, 5)
                page.goto(base + "/flows/order/executions/order-1046?state=Approve")
                page.evaluate("document.getElementById('graph-h').scrollIntoView()")
                page.screenshot(path=str(OUT / "console-state.png"), full_page=False)
                page.goto(base + "/flows/order")
                page.evaluate("document.getElementById('graph-h').scrollIntoView()")
                page.screenshot(path=str(OUT / "console-flow.png"))
                browser.close()
        finally:
            server.stop()
            app.state.service.close()
            runtime.close()
    for image in sorted(OUT.glob("console-*.png")):
        print(image, image.stat().st_size)


if __name__ == "__main__":
    main()
