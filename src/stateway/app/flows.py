"""Flows, their published versions and their aliases.

A flow is the store's row: ``{"name", "definition", "id", "created", "modified", "meta"}``. Its
``meta`` holds CloudFlow's settings under CloudFlow's names (``Description``, ``Type``,
``ExecutionMode``, ``RoleArn``, ``ResourceGroupId``, ``ExternalStorageLocation``, ``Environment``),
because that is how they are stored and shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stateway.app._checks import check_name
from stateway.expr import ExpressionError, compile_expression
from stateway.fdl import Flow
from stateway.runtime import InvalidArgument, Runtime
from stateway.store import FlowNotExists

META_FIELDS = ("Description", "Type", "RoleArn", "ExecutionMode", "ResourceGroupId", "ExternalStorageLocation",
               "Environment", "RetentionDays")  # RetentionDays: Stateway's, overrides [retention] days
MODES = ("Standard", "Express")
DEFAULT_META = {"Type": "FDL", "ExecutionMode": "Standard", "Description": ""}
ALIAS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
# what a version's snapshot does not override when a version is described: the flow's own settings
VERSION_OWN_FIELDS = ("Description", "Environment", "RoleArn")


def is_express(flow: Mapping[str, Any]) -> bool:
    return flow["meta"].get("ExecutionMode") == "Express"


def flow_meta(meta: Mapping[str, Any] | None, *, defaults: bool) -> dict[str, Any]:
    """The settings stored with a flow: CloudFlow's defaults on create, the mode checked."""
    given = dict(meta or {})
    unknown = sorted(set(given) - set(META_FIELDS))
    if unknown:
        raise InvalidArgument(f"unknown flow settings {unknown}: expected some of {list(META_FIELDS)}")
    out: dict[str, Any] = dict(DEFAULT_META) if defaults else {}
    out.update(given)
    if out.get("ExecutionMode", "Standard") not in MODES:
        raise InvalidArgument("ExecutionMode must be Standard or Express")
    days = out.get("RetentionDays")
    if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 <= days <= 36500):
        raise InvalidArgument(f"RetentionDays must be a number of days from 0 (keep forever) to 36500, got {days!r}")
    return out


def check_routing(routes: Any) -> list[dict[str, Any]]:
    """An alias's routes: 1 or 2 ``{"Version", "Weight"}``, distinct versions, weights 0..100, one above 0."""
    if not isinstance(routes, list) or not 1 <= len(routes) <= 2 or not all(isinstance(r, dict) for r in routes):
        raise InvalidArgument("RoutingConfigurations must be a JSON array of 1 or 2 objects {\"Version\", \"Weight\"}")
    clean = []
    for route in routes:
        unknown = set(route) - {"Version", "Weight"}
        if unknown or "Version" not in route or "Weight" not in route:
            raise InvalidArgument("each routing configuration has exactly Version and Weight")
        clean.append({"Version": str(version_number(route["Version"], "Version")), "Weight": _weight(route["Weight"])})
    if len(clean) == 2 and clean[0]["Version"] == clean[1]["Version"]:
        raise InvalidArgument("the two routing configurations must name different versions")
    if not any(r["Weight"] > 0 for r in clean):
        raise InvalidArgument("at least one Weight must be above 0")
    return clean


def version_number(raw: Any, field: str) -> int:
    text = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not re.fullmatch(r"[0-9]{1,18}", text) or int(text) < 1:
        raise InvalidArgument(f"{field} must be a version number like \"1\", got {raw!r}")
    return int(text)


def _weight(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not re.fullmatch(r"[0-9]{1,3}", str(raw)) \
            or int(raw) > 100:
        raise InvalidArgument(f"Weight must be an integer from 0 to 100, got {raw!r}")
    return int(raw)


def check_alias_name(name: str) -> str:
    if not isinstance(name, str) or not ALIAS_NAME.fullmatch(name):
        raise InvalidArgument(f"alias name {name!r} must match [A-Za-z_][A-Za-z0-9_-]{{0,127}}")
    return name


class Flows:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store

    # -- flows --------------------------------------------------------------------------------------
    def create(self, name: str, definition: str, meta: Mapping[str, Any] | None = None, *,
               description: str | None = None, express: bool = False) -> dict[str, Any]:
        """Register a new flow (``FlowAlreadyExists`` if the name is taken); the definition is
        validated first (``FlowDefinitionError`` names state, field and line)."""
        meta = dict(meta or {})
        if description is not None:
            meta["Description"] = description
        if express:
            meta["ExecutionMode"] = "Express"
        return self.runtime.register_flow(check_name(name, "Name"), definition, flow_meta(meta, defaults=True),
                                          replace=False)

    def update(self, name: str, definition: str | None = None, meta: Mapping[str, Any] | None = None,
               *, description: str | None = None) -> dict[str, Any]:
        """Change a flow's definition and/or settings; what is not given stays."""
        flow = self.store.get_flow(name)
        meta = dict(meta or {})
        if description is not None:
            meta["Description"] = description
        return self.runtime.register_flow(name, definition or flow["definition"], flow_meta(meta, defaults=False),
                                          replace="update")

    def put(self, name: str, definition: str) -> dict[str, Any]:
        """Create the flow, or give an existing one this definition (its settings stay): what
        ``stateway run`` does with the files it is given, so a second run picks up an edit."""
        if self.exists(name):
            return self.update(name, definition)
        return self.create(name, definition)

    def validate(self, definition: str) -> Flow:
        """The definition as the engine reads it, with its ``warnings``; ``FlowDefinitionError`` (state,
        field and line of each problem) when it is not valid. Nothing is stored."""
        return self.runtime.load(definition)

    def describe(self, name: str) -> dict[str, Any]:
        return self.store.get_flow(name)

    def list(self, resource_group: str | None = None) -> list[dict[str, Any]]:
        flows = self.store.list_flows()
        if resource_group:
            flows = [f for f in flows if f["meta"].get("ResourceGroupId") == resource_group]
        return flows

    def delete(self, name: str) -> None:
        self.store.delete_flow(name)

    # -- concurrency limits (store/_sql_admission.py, docs/operations.md) ------------------------------
    def limit(self, name: str) -> dict[str, Any] | None:
        """The flow's limit ``{"max_running", "key_expr", "starts_per_second"}``, or None."""
        self.store.get_flow(name)
        return self.store.flow_limit(name)

    def set_limit(self, name: str, max_running: int | None = None, key: str = "",
                  starts_per_second: float | None = None) -> dict[str, Any] | None:
        """At most ``max_running`` executions of the flow Running at once (over it, a start waits as
        ``Starting``), executions sorted by ``key`` (an expression on the input) and served in turn,
        at most ``starts_per_second`` admitted a second. Neither a cap nor a rate: no limit."""
        if max_running is not None and (isinstance(max_running, bool) or not isinstance(max_running, int)
                                        or not 0 <= max_running <= 1_000_000):
            raise InvalidArgument(f"MaxRunning must be an integer from 0 (no limit) to 1000000, got {max_running!r}")
        if starts_per_second is not None and (isinstance(starts_per_second, bool)
                                              or not isinstance(starts_per_second, (int, float))
                                              or not 0 <= starts_per_second <= 1_000_000):
            raise InvalidArgument(f"StartsPerSecond must be a number from 0 (no limit) to 1000000, "
                                  f"got {starts_per_second!r}")
        key = key or ""
        if key:
            try:
                compile_expression(key)
            except ExpressionError as exc:
                raise InvalidArgument(f"ConcurrencyKey is not a valid expression: {exc}") from None
        return self.store.set_flow_limit(name, max_running or None, key, starts_per_second or None)

    def require(self, name: str) -> dict[str, Any]:
        """The flow, or ``FlowNotExists``."""
        return self.store.get_flow(name)

    def exists(self, name: str) -> bool:
        try:
            self.store.get_flow(name)
        except FlowNotExists:
            return False
        return True

    # -- versions -----------------------------------------------------------------------------------
    def publish_version(self, flow_name: str, description: str = "") -> dict[str, Any]:
        """Snapshot the flow's current definition and settings as the next version number."""
        return self.store.publish_version(flow_name, description)

    def list_versions(self, flow_name: str, before: int | None = None, limit: int = 60) -> list[dict[str, Any]]:
        """Newest first; ``before`` continues after a page."""
        return self.store.list_versions(flow_name, before, limit)

    def delete_version(self, flow_name: str, version: int) -> None:
        self.store.delete_version(flow_name, version)

    def describe_version(self, flow_name: str, version: int) -> dict[str, Any]:
        """The flow as that version has it: the snapshot's definition and settings over the flow's own."""
        flow = self.store.get_flow(flow_name)
        snapshot = self.store.get_version(flow_name, version)
        meta = {k: v for k, v in flow["meta"].items() if k not in VERSION_OWN_FIELDS}
        return {**flow, "definition": snapshot["definition"], "modified": snapshot["flow_modified"],
                "meta": {**meta, **snapshot["meta"]}}

    # -- aliases ------------------------------------------------------------------------------------
    def create_alias(self, flow_name: str, name: str, routing: Any, description: str = "") -> dict[str, Any]:
        return self.store.put_alias(flow_name, check_alias_name(name), description, check_routing(routing),
                                    create=True)

    def update_alias(self, flow_name: str, name: str, routing: Any = None,
                     description: str | None = None) -> dict[str, Any]:
        routes = None if routing is None else check_routing(routing)
        return self.store.put_alias(flow_name, check_alias_name(name), description, routes, create=False)

    def describe_alias(self, flow_name: str, name: str) -> dict[str, Any]:
        return self.store.get_alias(flow_name, name)

    def list_aliases(self, flow_name: str, after: str = "", limit: int = 60) -> list[dict[str, Any]]:
        return self.store.list_aliases(flow_name, after, limit)

    def delete_alias(self, flow_name: str, name: str) -> None:
        self.store.delete_alias(flow_name, name)
