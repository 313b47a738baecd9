"""DescribeMapRun and UpdateMapRun (versions-and-maprun.md §4.9, §6): the Map Run of one execution.
UpdateMapRun is a GET with everything in the query, as the SDK sends it."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from stateway.api._actions import ApiError, CloudFlowService, required
from stateway.timefmt import iso


def _settings(run: dict[str, Any]) -> dict[str, Any]:
    return {"Concurrency": run["concurrency"], "ToleratedFailedCount": run["tolerated_count"] or 0,
            "ToleratedFailedPercentage": float(run["tolerated_percentage"] or 0.0)}


def _key(params: Mapping[str, str]) -> tuple[str, str, str]:
    return required(params, "FlowName"), required(params, "ExecutionName"), required(params, "MapRunName")


def describe_map_run(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    run = service.app.map_runs.describe(*_key(params))
    return {"ExecutionName": params["ExecutionName"], "MapRunName": run["name"], "Status": run["status"],
            "StartedTime": iso(run["started"]), "StoppedTime": iso(run["stopped"]) if run["stopped"] else "",
            **_settings(run), "ItemCounts": run["counts"]}


def _optional_int(params: Mapping[str, str], name: str, low: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) < low:
        raise ApiError(400, "InvalidArgument", f"{name} must be an integer of at least {low}, got {raw!r}")
    return int(raw)


def _percentage(params: Mapping[str, str]) -> float | None:
    raw = params.get("ToleratedFailedPercentage")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw) if re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,6})?", raw) else math.nan
    except ValueError:
        value = math.nan
    if not 0 <= value <= 100:
        raise ApiError(400, "InvalidArgument", f"ToleratedFailedPercentage must be from 0 to 100, got {raw!r}")
    return value


def update_map_run(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name, execution_name, name = _key(params)
    service.app.map_runs.describe(flow_name, execution_name, name)  # a missing run before a bad setting
    updated = service.app.map_runs.update(
        flow_name, execution_name, name, concurrency=_optional_int(params, "Concurrency", 1),
        tolerated_count=_optional_int(params, "ToleratedFailedCount", 0), tolerated_percentage=_percentage(params))
    return {"FlowName": flow_name, "ExecutionName": execution_name, "MapRunName": updated["name"],
            **_settings(updated)}


MAP_RUN_ACTIONS = {"DescribeMapRun": describe_map_run, "UpdateMapRun": update_map_run}
