"""The Map Run page of a distributed Map, in a real browser: the parent's summary card, counts,
the failed items by index, and UpdateMapRun from the page."""

from __future__ import annotations

import re

from tests.console import flows
from tests.console.conftest import login, shot, unique, wait_for

BAD = (7, 50, 120, 199)


def _run_map(console_server, items: int = 200):
    flow = unique("dmap")
    console_server.runtime.register_flow(flow, flows.DISTRIBUTED, {"ExecutionMode": "Standard", "Type": "FDL"})
    data = {"items": [{"n": i, "bad": i in BAD, "label": f"item {i}"} for i in range(items)]}
    row = console_server.runtime.start_execution(flow, data, unique("e"))
    return flow, console_server.runtime.wait(row.id, 120)


def test_the_parent_links_to_a_map_run_page_that_counts_and_filters_the_failed_items(console_server, page):
    flow, row = _run_map(console_server)
    assert row.status == "Succeeded", (row.error, row.cause)
    login(page, console_server, f"/flows/{flow}/executions/{row.name}")
    assert page.locator("#execution .child-item").first.inner_text().startswith("item ")
    card = page.locator(".mr-card")
    assert "196 succeeded, 4 failed" in card.inner_text()
    card.get_by_role("link", name=re.compile("^Map Run [0-9a-f]{32}$")).click()
    page.wait_for_url(re.compile(r".*/mapruns/[0-9a-f]{32}$"))
    assert page.locator('#mr-counts [data-count="succeeded"]').inner_text() == "196"
    assert page.locator('#mr-counts [data-count="failed"]').inner_text() == "4"
    assert page.locator("#mr-tolerance").inner_text() == "10 items"
    assert page.locator("#items tbody tr").count() == 50  # one keyset page
    assert "n: 0" in page.locator("#items tbody tr").first.inner_text()
    page.get_by_role("link", name="Later items ›").click()
    assert page.locator("#items .mr-idx").first.inner_text() == "50"
    page.get_by_role("link", name="Failed (4)").click()
    indexes = [int(t) for t in page.locator("#items .mr-idx").all_inner_texts()]
    assert indexes == list(BAD)
    assert "BadItem" in page.locator("#items").inner_text()
    shot(page, "maprun-failed")
    page.locator("#items tbody tr").first.get_by_role("link").click()
    page.wait_for_url(re.compile(r".*/executions/[0-9a-f]{32}-7$"))
    assert page.locator("#exec-status").inner_text().strip().endswith("Failed")
    assert re.fullmatch(r"Item 7 of Map Run [0-9a-f]{32}", page.locator("#map-item").inner_text())
    page.locator("#map-item a").click()
    page.wait_for_url(re.compile(r".*/mapruns/[0-9a-f]{32}$"))


def test_concurrency_and_tolerance_change_from_the_page_while_the_run_runs(console_server, page):
    flow = unique("dwait")
    definition = flows.DISTRIBUTED.replace("MaxConcurrency: 50", "MaxConcurrency: 1").replace(
        "          Default: Accept", "          Default: Hold").replace(
        "        - Type: Pass\n          Name: Accept\n          End: true",
        "        - Type: Wait\n          Name: Hold\n          Seconds: 30\n          End: true")
    console_server.runtime.register_flow(flow, definition, {"ExecutionMode": "Standard", "Type": "FDL"})
    row = console_server.runtime.start_execution(flow, {"items": [{"n": i} for i in range(3)]}, unique("e"))
    store = console_server.runtime.store
    runs = wait_for(lambda: store.map_runs_of(row.id), timeout=30)
    try:
        login(page, console_server, f"/flows/{flow}/executions/{row.name}")
        card = page.locator(".mr-card")
        assert "1 running" in card.inner_text() and "concurrency 1" in card.inner_text()
        page.evaluate("window.notReloaded = true")
        other = page.context.new_page()  # the Map Run page, beside the parent's
        other.goto(f"{console_server.base}/flows/{flow}/executions/{row.name}/mapruns/{runs[0]['name']}")
        assert other.locator("#mr-concurrency").inner_text() == "1"
        other.get_by_text("Change concurrency or tolerance…").click()
        other.get_by_label("Concurrency").fill("3")
        other.get_by_label("Tolerated failure percentage").fill("50")
        other.get_by_role("button", name="Update Map Run").click()
        assert other.get_by_role("status").inner_text() == "Map Run updated."
        assert other.locator("#mr-concurrency").inner_text() == "3"
        assert "50 %" in other.locator("#mr-tolerance").inner_text()
        wait_for(lambda: other.locator('#mr-counts [data-count="running"]').inner_text() == "3", timeout=30)
        # the parent's card follows the run live, though the parent's history did not grow
        wait_for(lambda: "3 running" in card.inner_text(), timeout=30)
        assert page.evaluate("window.notReloaded") is True
        # and so does the Map Run page: stopping the parent aborts the run
        other.evaluate("window.notReloaded = true")
        console_server.runtime.stop_execution(row.id, "Stopped", "test over")
        wait_for(lambda: other.locator('#mr-counts [data-count="aborted"]').inner_text() == "3", timeout=30)
        assert "Running" not in other.locator("#mr-status").inner_text()
        assert other.evaluate("window.notReloaded") is True
    finally:
        console_server.runtime.stop_execution(row.id, "Stopped", "test over")
