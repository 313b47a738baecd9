"""docs/grafana/stateway.json queries only metrics that /metrics serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "stateway.json"
PASS = """Type: StateMachine
SpecVersion: v1
Name: tick
StartAt: Only
States:
  - Type: Pass
    Name: Only
    End: true
"""


def queried_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if isinstance(v.get("query"), dict)]
    assert len(exprs) >= 15
    return {name for expr in exprs for name in re.findall(r"\bstateway_[a-z_]+", expr)}


def test_every_metric_the_dashboard_queries_is_served(server, fnf):
    from alibabacloud_fnf20190315 import models as m

    runtime = server.runtime
    runtime.register_flow("tick", PASS)
    assert runtime.wait(runtime.start_execution("tick", {}).id, 20).status == "Succeeded"
    fnf.list_flows(m.ListFlowsRequest(limit=1))  # an API request: the latency histogram has a series
    text = httpx.get(f"http://{server.endpoint}/metrics").text
    served = set(re.findall(r"^(stateway_[a-z_]+)[{ ]", text, re.MULTILINE))
    # a labelled family with no series yet (no bulk operation has run) is still declared, with its type
    for name, kind in re.findall(r"^# TYPE (stateway_[a-z_]+) (\w+)$", text, re.MULTILINE):
        served |= {name} if kind in ("counter", "gauge") else set()
    wanted = queried_metrics()
    assert {"stateway_executions_started_total", "stateway_executions_ended_total", "stateway_tasks_open",
            "stateway_lease_takeovers_total", "stateway_queue_depth", "stateway_decision_seconds_bucket"} <= wanted
    assert wanted - served == set()


def test_panels_are_laid_out_without_overlap():
    dashboard = json.loads(DASHBOARD.read_text())
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, panel["title"]
        cells |= mine
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
