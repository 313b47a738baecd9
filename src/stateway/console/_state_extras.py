"""More for the state panel: what each attempt's function printed (stdout/stderr, from the task
logs the store keeps, the same data as GetExecutionLogs; read for the shown attempts only), and
for an inline Map the status of each item it iterated over."""

from __future__ import annotations

import re
from typing import Any

from stateway.console._progress import PRIORITY, Visit

LOG_CHARS = 20_000  # of one stream of one attempt shown in the panel
ITEMS_SHOWN = 500
_ITEM = re.compile(r"/Item\[(\d+)\]")


def attempt_logs(logs: list[dict[str, Any]], visit: Visit) -> list[dict[str, Any]]:
    """The logs of the visit's attempts (a task id is the id of its TaskScheduled event), in order."""
    mine = {int(entry["task_id"]): entry for entry in logs if str(entry["task_id"]).isdigit()}
    out = []
    for number, event_id in enumerate((e for e in visit.events if e in mine), 1):
        entry = mine[event_id]
        out.append({"attempt": number, "task_id": entry["task_id"], "time": entry["time"],
                    "stdout": _clip(entry.get("stdout") or ""), "stderr": _clip(entry.get("stderr") or "")})
    return out


def _clip(text: str) -> str:
    return text if len(text) <= LOG_CHARS else text[:LOG_CHARS] + f"\n… ({len(text) - LOG_CHARS} more characters)"


def map_items(visits: list[Visit], visit: Visit) -> dict[str, Any] | None:
    """An inline Map visit's items: index → the most pressing status among the item's steps."""
    prefix = visit.step + "/Item["
    items: dict[int, str] = {}
    for other in visits:
        if not other.step.startswith(prefix):
            continue
        match = _ITEM.match(other.step, len(visit.step))
        if match is None:
            continue
        index = int(match.group(1))
        now = items.get(index)
        status = other.status
        if now is None or PRIORITY.index(status) < PRIORITY.index(now):
            items[index] = status
    if not items:
        return None
    counts = dict.fromkeys(PRIORITY, 0)
    for status in items.values():
        counts[status] += 1
    shown = sorted(items.items())[:ITEMS_SHOWN]
    return {"counts": {k: v for k, v in counts.items() if v}, "items": shown, "total": len(items)}
