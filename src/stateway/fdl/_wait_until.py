"""A Wait until an instant: ``Timestamp`` (an RFC 3339 instant, e.g. ``2026-05-02T15:04:05Z``) or
``Timestamp.$`` (an expression giving one) [Stateway]. It is what the older dialect's ``wait``
with ``timestamp`` does (fdl-v1.md §5.6), so that ``stateway convert`` keeps such a wait exact.
An instant already past waits 0 seconds; a value that is not an instant fails the state with
``FnF.InvalidArgument``."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap

from stateway.fdl._fields import FieldReader
from stateway.fdl._v1 import parse_instant


def read_timestamp(loader: FieldReader, node: CommentedMap, path: str, fields: dict[str, Any]) -> None:
    if "Timestamp.$" in node:
        fields["timestamp_expr"] = loader.expression(node, "Timestamp.$", path)
        return
    instant = parse_instant(node["Timestamp"])
    if instant is None:
        loader.error(f"{path} > Timestamp", f"expected an RFC 3339 instant such as 2026-05-02T15:04:05Z, got "
                     f"{node['Timestamp']!r}", node, "Timestamp")
        return
    fields["timestamp"] = instant
