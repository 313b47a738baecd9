"""Screenshots of the operator's pages for docs/console.md:
``.venv/bin/python -m tests.console.make_screenshots_operator``.

A distributed Map of 200 items (4 fail), the nested graph, a function's logs in the state panel,
versions and aliases, and the history filters, photographed into docs/img/ at 1280 px wide."""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from stateway.api import BackgroundServer, create_app
from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore
from tests.console import flows
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.console.test_maprun_page import BAD
from tests.console.test_operator_view import LOGGED, PRINTER

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "functions").mkdir()
        (Path(tmp) / "functions" / "printer.py").write_text(PRINTER)
        runtime = Runtime(SQLiteStore(f"{tmp}/shots.db"),
                          settings=Settings.from_config(functions_dir=f"{tmp}/functions")).start()
        app = create_app(runtime, {"demo": "demo-secret"})
        server = BackgroundServer(app, "127.0.0.1").start()
        base = f"http://{server.endpoint}/console"
        meta = {"ExecutionMode": "Standard", "Type": "FDL"}
        try:
            runtime.register_flow("batch", flows.DISTRIBUTED, meta)
            items = [{"n": i, "bad": i in BAD, "label": f"invoice {1000 + i}"} for i in range(200)]
            batch = runtime.wait(runtime.start_execution("batch", {"items": items}, "nightly-batch").id, 120)
            runtime.register_flow("nested", flows.NESTED, meta)
            runtime.register_flow("logged", LOGGED, meta)
            logged = runtime.wait(runtime.start_execution("logged", {"n": 7}, "say-hello").id, 30)
            runtime.register_flow("steps", flows.STEPS, meta)
            steps = runtime.wait(runtime.start_execution("steps", {"order": 42}, "order-42").id, 30)
            for description in ("first release", "retry on timeouts"):
                runtime.store.publish_version("steps", description)
            app.state.service.app.flows.create_alias("steps", "live", [{"Version": "1", "Weight": 90},
                                                                   {"Version": "2", "Weight": 10}], "canary")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                page.goto(base + "/executions")
                page.get_by_label("Access key id").fill("demo")
                page.get_by_label("Access key secret").fill("demo-secret")
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(base + "/executions")
                page.goto(f"{base}/flows/batch/executions/{batch.name}")
                page.screenshot(path=str(OUT / "console-maprun-card.png"))
                page.locator(".mr-card a").first.click()
                page.get_by_role("link", name="Failed (4)").click()
                page.screenshot(path=str(OUT / "console-maprun.png"))
                page.goto(f"{base}/flows/nested")
                page.evaluate("document.getElementById('graph-h').scrollIntoView()")
                page.screenshot(path=str(OUT / "console-graph-nested.png"))
                page.goto(f"{base}/flows/logged/executions/{logged.name}?state=Say#state")
                page.evaluate("document.getElementById('graph-h').scrollIntoView()")
                page.screenshot(path=str(OUT / "console-logs.png"))
                page.goto(f"{base}/flows/steps")
                page.evaluate("document.getElementById('versions-h').scrollIntoView()")
                page.screenshot(path=str(OUT / "console-versions.png"))
                page.goto(f"{base}/flows/steps/executions/{steps.name}?htype=StepEntered#history")
                page.evaluate("document.getElementById('timeline').scrollIntoView()")
                page.screenshot(path=str(OUT / "console-timeline-history.png"))
                browser.close()
        finally:
            server.stop()
            app.state.service.close()
            runtime.close()
    for image in sorted(OUT.glob("console-*.png")):
        print(image, image.stat().st_size)


if __name__ == "__main__":
    main()
