"""Issue 23's pages over plain HTTP: what a missing Map Run, an ended one, a form without its CSRF
token and an unknown history answer; an inline Map's items on its state panel."""

from __future__ import annotations

import re

from tests.console import flows
from tests.console.test_console_http import _csrf, console, sign_in  # noqa: F401  (fixture)


def _ended_map(console):  # noqa: F811
    runtime = console.runtime
    runtime.register_flow("dmap", flows.DISTRIBUTED, {"ExecutionMode": "Standard", "Type": "FDL"})
    row = runtime.wait(runtime.start_execution("dmap", {"items": [{"n": i, "bad": i == 2} for i in range(5)]},
                                               "e1").id, 60)
    assert row.status == "Succeeded"
    return row, runtime.store.map_runs_of(row.id)[0]


def test_map_run_pages_refuse_what_does_not_exist_and_what_has_ended(console):  # noqa: F811
    sign_in(console)
    row, run = _ended_map(console)
    here = f"/console/flows/dmap/executions/e1/mapruns/{run['name']}"
    page = console.get(here)
    assert page.status_code == 200 and "4 succeeded, 1 failed of 5 items" in page.text
    assert "Change concurrency" not in page.text  # an ended run has no form
    assert console.get("/console/flows/dmap/executions/e1/mapruns/" + "0" * 32).status_code == 404
    assert console.get(f"/console/flows/dmap/executions/nope/mapruns/{run['name']}").status_code == 404
    assert console.get(here + "?status=lost").status_code == 400
    assert console.get(here + "?after=x").status_code == 200  # a bad cursor is the first page
    live = console.get(here + "/live").json()
    assert live["final"] and live["counts"]["Failed"] == 1
    assert console.post(here + "/update", data={"concurrency": "3"}).status_code == 403  # no CSRF token
    answer = console.post(here + "/update", data={"csrf": _csrf(page.text), "concurrency": "3"})
    assert answer.status_code == 303 and "has+ended" in answer.headers["location"]
    assert console.get("/console/flows/dmap/executions/e1").text.count('class="mr-card"') == 1


def test_history_download_and_filters_over_http(console):  # noqa: F811
    sign_in(console)
    runtime = console.runtime
    runtime.register_flow("many", flows.MAP, {"ExecutionMode": "Standard", "Type": "FDL"})
    row = runtime.wait(runtime.start_execution("many", {"items": [{"n": 1}, {"n": 2}, {"n": 3}]}, "m1").id, 30)
    assert row.status == "Succeeded", (row.error, row.cause)
    events = console.get("/console/flows/many/executions/m1/history.json").json()
    assert len(events) == runtime.store.history_count(row.id) and events[0]["EventId"] == 1
    assert console.get("/console/flows/many/executions/none/history.json").status_code == 404
    page = console.get("/console/flows/many/executions/m1?hstep=Touch&htype=StepEntered").text
    steps = re.findall(r'<span class="ev-step">([^<]*)</span>', page)
    assert steps == ["Each/Item[0]/Touch", "Each/Item[1]/Touch", "Each/Item[2]/Touch"]
    panel = console.get("/console/flows/many/executions/m1?state=Each").text
    assert "3 items: 3 succeeded" in panel and panel.count('data-index="') == 3


def test_the_time_axis_marks_round_steps():
    from stateway.console._queries import time_ticks

    assert time_ticks(7.3) == [(0.0, "0"), (100 * 2 / 7.3, "2.0 s"), (100 * 4 / 7.3, "4.0 s"), (100 * 6 / 7.3, "6.0 s")]
    assert [label for _, label in time_ticks(0.05)] == ["0", "10 ms", "20 ms", "30 ms", "40 ms", "50 ms"]
    assert [label for _, label in time_ticks(3 * 3600)][:3] == ["0", "30 min 0 s", "60 min 0 s"]
    assert all(0 <= pct <= 100 for pct, _ in time_ticks(123456.0))
