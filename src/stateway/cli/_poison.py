"""``stateway exec describe``'s poison calls: function calls that were given up after
``max_dispatches`` dispatches without a result (their task failed ``FC.FunctionCrashed``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

SCANNED_EVENTS = 20_000  # a describe reads at most this much history to find them


def poison_lines(pages: Iterable[dict[str, Any]]) -> list[str]:
    lines, seen = [], 0
    for page in pages:
        for event in page["Events"]:
            seen += 1
            if event["Type"] != "TaskFailed":
                continue
            try:
                detail = json.loads(event.get("EventDetail") or "{}")
            except ValueError:
                continue
            cause = str(detail.get("cause") or "")
            if detail.get("error") == "FC.FunctionCrashed" and "not run again" in cause:
                lines.append(f"poison call: {event['StepName']} (event {event['EventId']}): "
                             f"{cause.splitlines()[0][:300]}")
        if seen >= SCANNED_EVENTS:
            break
    return lines
