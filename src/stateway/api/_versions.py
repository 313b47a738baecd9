"""The version and alias actions (versions-and-maprun.md §1, §2, §6), with the SDK's exact field
names: flat CreateFlowAlias, ``Alias``-wrapped Update/Describe, string weights in ListFlowAliases."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from stateway.api._actions import ApiError, CloudFlowService, describe_flow, flow_view, required
from stateway.app.flows import version_number
from stateway.timefmt import iso

DEFAULT_LIMIT = 60


def _limit(params: Mapping[str, str]) -> int:
    raw = params.get("Limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= 100:
        raise ApiError(400, "InvalidArgument", f"Limit must be an integer from 1 to 100, got {raw!r}")
    return int(raw)


def _routing(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "InvalidArgument", "RoutingConfigurations must be a JSON array") from None


def _alias_view(alias: dict[str, Any], weight_as_text: bool = False) -> dict[str, Any]:
    routes = [{"Version": r["Version"], "Weight": str(r["Weight"]) if weight_as_text else r["Weight"]}
              for r in alias["routing"]]
    return {"Name": alias["name"], "Description": alias["description"], "RoutingConfigurations": routes,
            "CreatedTime": iso(alias["created"])}


# -- versions -----------------------------------------------------------------------------------------
def publish_flow_version(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    version = service.app.flows.publish_version(flow_name, params.get("Description", ""))
    return {"FlowName": flow_name, "Version": str(version["version"]), "Description": version["description"],
            "CreatedTime": iso(version["created"])}


def list_flow_versions(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    limit = _limit(params)
    token = params.get("NextToken") or ""
    before = version_number(token, "NextToken") if token else None
    versions = service.app.flows.list_versions(flow_name, before, limit + 1)
    page = versions[:limit]
    return {"FlowVersions": [{"Version": str(v["version"]), "Description": v["description"],
                              "CreatedTime": iso(v["created"])} for v in page],
            "NextToken": str(versions[limit]["version"]) if len(versions) > limit else ""}


def delete_flow_version(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    service.app.flows.delete_version(flow_name, version_number(required(params, "FlowVersion"), "FlowVersion"))
    return {}


def describe_flow_version(service: CloudFlowService, flow_name: str, raw_version: str) -> dict[str, Any]:
    """DescribeFlow with FlowVersion (§1.5): the snapshot's fields over the flow's own."""
    return flow_view(service.app.flows.describe_version(flow_name, version_number(raw_version, "FlowVersion")))


# -- aliases ------------------------------------------------------------------------------------------
def create_flow_alias(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name, name = required(params, "FlowName"), required(params, "Name")
    alias = service.app.flows.create_alias(flow_name, name, _routing(required(params, "RoutingConfigurations")),
                                           params.get("Description", ""))
    return {"FlowName": flow_name, **_alias_view(alias)}


def update_flow_alias(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name, name = required(params, "FlowName"), required(params, "Name")
    routing = _routing(params["RoutingConfigurations"]) if "RoutingConfigurations" in params else None
    alias = service.app.flows.update_alias(flow_name, name, routing, params.get("Description"))
    return {"Alias": _alias_view(alias)}


def describe_flow_alias(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    alias = service.app.flows.describe_alias(required(params, "FlowName"), required(params, "Name"))
    return {"Alias": _alias_view(alias)}


def list_flow_aliases(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    flow_name = required(params, "FlowName")
    limit = _limit(params)
    aliases = service.app.flows.list_aliases(flow_name, params.get("NextToken") or "", limit + 1)
    return {"Aliases": [_alias_view(a, weight_as_text=True) for a in aliases[:limit]],
            "NextToken": aliases[limit]["name"] if len(aliases) > limit else ""}


def delete_flow_alias(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    service.app.flows.delete_alias(required(params, "FlowName"), required(params, "Name"))
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
