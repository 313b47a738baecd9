"""DescribeMapRun and UpdateMapRun (versions-and-maprun.md §4.9, §6): the Map Run of one execution.
UpdateMapRun is a GET with everything in the query, as the SDK sends it."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from stateway.api._actions import ApiError, CloudFlowService, _find, required
from stateway.engine import MAP_RUN_ACTION
from stateway.store import MapRunNotExists
from stateway.timefmt import iso


def _run_of(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    row = _find(service, params)
    name = required(params, "MapRunName")
    try:
        run = service.runtime.store.get_map_run(name)
    except MapRunNotExists:
        run = None
    if run is None or run["execution_id"] != row.id:
        raise ApiError(404, "MapRunNotExists", f"the execution {row.name!r} has no Map Run {name!r}")
    return run


def _settings(run: dict[str, Any]) -> dict[str, Any]:
    return {"Concurrency": run["concurrency"], "ToleratedFailedCount": run["tolerated_count"] or 0,
            "ToleratedFailedPercentage": float(run["tolerated_percentage"] or 0.0)}


def describe_map_run(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    run = _run_of(service, params)
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
    run = _run_of(service, params)
    concurrency = _optional_int(params, "Concurrency", 1)
    count = _optional_int(params, "ToleratedFailedCount", 0)
    percentage = _percentage(params)
    updated = service.runtime.registry.get(MAP_RUN_ACTION).update(  # type: ignore[attr-defined]
        run["name"], concurrency, count, percentage)
    if updated is None:
        raise ApiError(409, "MapRunNotRunning", f"the Map Run {run['name']!r} has ended ({run['status']})")
    return {"FlowName": params["FlowName"], "ExecutionName": params["ExecutionName"], "MapRunName": run["name"],
            **_settings(updated)}


MAP_RUN_ACTIONS = {"DescribeMapRun": describe_map_run, "UpdateMapRun": update_map_run}
