"""Resolving StartExecution's ``Qualifier`` to the definition that runs (versions-and-maprun.md §2.3,
§3.2): digits name a published version, anything else an alias whose weighted pick is a pure
function of flow, alias and execution name, so a repeated start lands on the same version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resolved:
    definition: str | None  # None: the flow's current definition
    flow_version: str
    qualifier: str


def pick_route(flow_name: str, alias_name: str, execution_name: str, routing: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256(f"{flow_name}\n{alias_name}\n{execution_name}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    weights = [int(r["Weight"]) for r in routing]
    target = u * sum(weights)
    cumulative = 0
    for route, weight in zip(routing, weights, strict=True):
        cumulative += weight
        if target < cumulative:
            return str(route["Version"])
    return str(routing[-1]["Version"])  # unreachable while a weight is above 0 (validated on write)


def resolve(store: Any, flow_name: str, qualifier: str | None, execution_name: str) -> Resolved:
    if not qualifier:
        return Resolved(None, "", "")
    if qualifier.isdigit():
        version = store.get_version(flow_name, int(qualifier))
    else:
        alias = store.get_alias(flow_name, qualifier)
        version = store.get_version(flow_name, int(pick_route(flow_name, qualifier, execution_name, alias["routing"])))
    return Resolved(version["definition"], str(version["version"]), qualifier)
