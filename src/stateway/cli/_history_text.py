"""``exec history`` on a terminal: an event's detail as readable lines, not JSON inside JSON.

The API gives EventDetail as JSON text whose values are often JSON text themselves (a state's
input and output) or long text (a traceback in ``cause``); printed as they are, quotes and line
breaks come out escaped. Here every key gets its own line; text is shown as it is, multi-line
text indented under its key, and JSON text parsed and indented."""

from __future__ import annotations

import json
from typing import Any

INDENT = "    "


def _value_lines(value: Any) -> list[str]:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") or stripped in ("null", "true", "false"):
            try:
                value = json.loads(stripped)
            except ValueError:
                return value.splitlines() or [""]
            return json.dumps(value, indent=2, ensure_ascii=False).splitlines()
        return value.splitlines() or [""]
    return json.dumps(value, indent=2, ensure_ascii=False).splitlines()


def detail_lines(detail: str) -> list[str]:
    """The lines to print under an event (without indentation), for its EventDetail text."""
    if not detail:
        return []
    try:
        parsed = json.loads(detail)
    except ValueError:
        return detail.splitlines()
    if not isinstance(parsed, dict):
        return _value_lines(detail)
    lines = []
    for key, value in parsed.items():
        shown = _value_lines(value)
        if len(shown) == 1:
            lines.append(f"{key}: {shown[0]}")
        else:
            lines.append(f"{key}:")
            lines.extend(f"{INDENT}{line}" for line in shown)
    return lines
