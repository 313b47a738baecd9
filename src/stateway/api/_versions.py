"""The version and alias actions (versions-and-maprun.md §1, §2, §6), with the SDK's exact field
names: flat CreateFlowAlias, ``Alias``-wrapped Update/Describe, string weights in ListFlowAliases."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from stateway.api._actions import ApiError, CloudFlowService, describe_flow, flow_view, required
from stateway.timefmt import iso

ALIAS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
DEFAULT_LIMIT = 60


def _limit(params: Mapping[str, str]) -> int:
    raw = params.get("Limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= 100:
        raise ApiError(400, "InvalidArgument", f"Limit must be an integer from 1 to 100, got {raw!r}")
    return int(raw)


def _version_number(raw: Any, field: str) -> int:
    text = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not re.fullmatch(r"[0-9]{1,18}", text) or int(text) < 1:
        raise ApiError(400, "InvalidArgument", f"{field} must be a version number like \"1\", got {raw!r}")
    return int(text)


def _weight(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not re.fullmatch(r"[0-9]{1,3}", str(raw)):
        raise ApiError(400, "InvalidArgument", f"Weight must be an integer from 0 to 100, got {raw!r}")
    value = int(raw)
    if value > 100:
        raise ApiError(400, "InvalidArgument", f"Weight must be an integer from 0 to 100, got {raw!r}")
    return value


def _routing(raw: str) -> list[dict[str, Any]]:
    try:
        routes = json.loads(raw)
    except ValueError:
        raise ApiError(400, "InvalidArgument", "RoutingConfigurations must be a JSON array") from None
    if not isinstance(routes, list) or not 1 <= len(routes) <= 2 or not all(isinstance(r, dict) for r in routes):
        raise ApiError(400, "InvalidArgument",
                       "RoutingConfigurations must be a JSON array of 1 or 2 objects {\"Version\", \"Weight\"}")
    clean = []
    for route in routes:
        unknown = set(route) - {"Version", "Weight"}
        if unknown or "Version" not in route or "Weight" not in route:
            raise ApiError(400, "InvalidArgument", "each routing configuration has exactly Version and Weight")
        clean.append({"Version": str(_version_number(route["Version"], "Version")), "Weight": _weight(route["Weight"])})
    if len(clean) == 2 and clean[0]["Version"] == clean[1]["Version"]:
        raise ApiError(400, "InvalidArgument", "the two routing configurations must name different versions")
    if not any(r["Weight"] > 0 for r in clean):
        raise ApiError(400, "InvalidArgument", "at least one Weight must be above 0")
    return clean


def _alias_name(params: Mapping[str, str]) -> str:
    name = required(params, "Name")
    if not ALIAS_NAME.fullmatch(name):
        raise ApiError(400, "InvalidArgument", f"alias name {name!r} must match [A-Za-z_][A-Za-z0-9_-]{{0,127}}")
    return name


def _alias_view(alias: dict[str, Any], weight_as_text: bool = False) -> dict[str, Any]:
    routes = [{"Version": r["Version"], "Weight": str(r["Weight"]) if weight_as_text else r["Weight"]}
              for r in alias["routing"]]
    return {"Name": alias["name"], "Description": alias["description"], "RoutingConfigurations": routes,
            "CreatedTime": iso(alias["created"])}


# -- versions -----------------------------------------------------------------------------------------
def publish_flow_version(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    version = service.runtime.store.publish_version(flow_name, params.get("Description", ""))
    return {"FlowName": flow_name, "Version": str(version["version"]), "Description": version["description"],
            "CreatedTime": iso(version["created"])}


def list_flow_versions(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    limit = _limit(params)
    token = params.get("NextToken") or ""
    before = _version_number(token, "NextToken") if token else None
    versions = service.runtime.store.list_versions(flow_name, before, limit + 1)
    page = versions[:limit]
    return {"FlowVersions": [{"Version": str(v["version"]), "Description": v["description"],
                              "CreatedTime": iso(v["created"])} for v in page],
            "NextToken": str(versions[limit]["version"]) if len(versions) > limit else ""}


def delete_flow_version(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    number = _version_number(required(params, "FlowVersion"), "FlowVersion")
    service.runtime.store.delete_version(flow_name, number)
    return {}


def describe_flow_version(service: CloudFlowService, flow_name: str, raw_version: str) -> dict[str, Any]:
    """DescribeFlow with FlowVersion (§1.5): the snapshot's fields over the flow's own."""
    store = service.runtime.store
    flow = store.get_flow(flow_name)
    version = store.get_version(flow_name, _version_number(raw_version, "FlowVersion"))
    view = flow_view({**flow, "definition": version["definition"], "modified": version["flow_modified"],
                      "meta": {**{k: v for k, v in flow["meta"].items()
                                  if k not in ("Description", "Environment", "RoleArn")}, **version["meta"]}})
    return view


# -- aliases ------------------------------------------------------------------------------------------
def create_flow_alias(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name, name = required(params, "FlowName"), _alias_name(params)
    routing = _routing(required(params, "RoutingConfigurations"))
    alias = service.runtime.store.put_alias(flow_name, name, params.get("Description", ""), routing, create=True)
    return {"FlowName": flow_name, **_alias_view(alias)}


def update_flow_alias(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name, name = required(params, "FlowName"), _alias_name(params)
    routing = _routing(params["RoutingConfigurations"]) if "RoutingConfigurations" in params else None
    alias = service.runtime.store.put_alias(flow_name, name, params.get("Description"), routing, create=False)
    return {"Alias": _alias_view(alias)}


def describe_flow_alias(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    alias = service.runtime.store.get_alias(required(params, "FlowName"), required(params, "Name"))
    return {"Alias": _alias_view(alias)}


def list_flow_aliases(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    limit = _limit(params)
    aliases = service.runtime.store.list_aliases(flow_name, params.get("NextToken") or "", limit + 1)
    return {"Aliases": [_alias_view(a, weight_as_text=True) for a in aliases[:limit]],
            "NextToken": aliases[limit]["name"] if len(aliases) > limit else ""}


def delete_flow_alias(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    service.runtime.store.delete_alias(required(params, "FlowName"), required(params, "Name"))
    return {}


def describe_flow_or_version(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    if params.get("FlowVersion"):
        return describe_flow_version(service, required(params, "Name"), params["FlowVersion"])
    return describe_flow(service, params)


VERSION_ACTIONS = {
    "DescribeFlow": describe_flow_or_version,
    "PublishFlowVersion": publish_flow_version, "ListFlowVersions": list_flow_versions,
    "DeleteFlowVersion": delete_flow_version,
    "CreateFlowAlias": create_flow_alias, "UpdateFlowAlias": update_flow_alias,
    "DescribeFlowAlias": describe_flow_alias, "ListFlowAliases": list_flow_aliases,
    "DeleteFlowAlias": delete_flow_alias,
}
