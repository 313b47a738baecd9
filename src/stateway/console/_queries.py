"""Read-side helpers over the store's paged queries. No logic about executions lives here:
changes go through the application services (``stateway.app``), reads through the store's
``ConsoleStore`` methods the benchmarks also time."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from stateway.app import Stateway
from stateway.console._progress import Progress, ProgressCache, read_progress
from stateway.fdl import Flow
from stateway.policies import Policy
from stateway.store import ExecutionRow

STATUSES = ("Running", "Succeeded", "Failed", "Stopped", "TimedOut")


def flow_model(service: Stateway, definition: str) -> Flow:
    return service.runtime.flow_model(definition).flow


def execution(service: Stateway, flow_name: str, name: str) -> ExecutionRow | None:
    return service.runtime.store.find_execution(flow_name, name)


def progress(service: Stateway, execution_id: int, cache: ProgressCache | None = None) -> Progress:
    if cache is None:
        return read_progress(service.runtime.store.history_outline(execution_id))
    return cache.get(execution_id, service.runtime.store.history_outline)


def parse_time(text: str) -> float | None:
    """A ``datetime-local`` value (taken as UTC) or an ISO time; None when empty."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time like 2026-01-31T12:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def show_time(at: float | None) -> str:
    if not at:
        return ""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def show_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 120:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def duration(started: float, stopped: float | None) -> str:
    return show_duration((stopped or time.time()) - started)


def queue_stats(service: Stateway) -> list[dict[str, Any]]:
    """Each queue with the counts the MNS API's GetQueueAttributes gives (same service method)."""
    return service.queues.stats()


SCAN_BATCH, SCAN_BATCHES = 200, 50


def visible_executions(store: Any, policy: Policy, *, limit: int, before_id: int | None = None,
                       after_id: int | None = None, **filters: Any) -> list[dict[str, Any]]:
    """``page_executions`` of the flows ``policy`` may see: for a key limited to some flows, pages
    are filled by reading on along the id until ``limit`` rows are found (at most SCAN_BATCHES
    batches: a page may then come up short, never with a row the key may not see)."""
    if policy.all_flows or filters.get("flow_name"):
        return list(store.page_executions(before_id=before_id, after_id=after_id, limit=limit, **filters))
    forward = after_id is not None and before_id is None
    found: list[dict[str, Any]] = []
    for _ in range(SCAN_BATCHES):
        batch = store.page_executions(before_id=before_id, after_id=after_id, limit=SCAN_BATCH, **filters)
        ordered = list(reversed(batch)) if forward else batch  # nearest to the cursor first
        found.extend(r for r in ordered if policy.sees_flow(r["flow_name"]))
        if len(found) >= limit or len(batch) < SCAN_BATCH:
            break
        if forward:
            after_id = batch[0]["id"]
        else:
            before_id = batch[-1]["id"]
    found = found[:limit]
    return list(reversed(found)) if forward else found
def time_ticks(span: float, most: int = 6) -> list[tuple[float, str]]:
    """Time-axis marks at a round step (1, 2 or 5 times a power of ten, or minutes and hours)."""
    steps = [10.0 ** e * m for e in range(-3, 4) for m in (1, 2, 5)] + [60, 120, 300, 600, 1800, 3600, 7200,
                                                                         21600, 43200, 86400]
    step = next((s for s in sorted(steps) if span / s <= most), 86400 * max(1, round(span / 86400 / most)))
    return [(100 * i * step / span, show_duration(i * step) if i else "0") for i in range(int(span / step) + 1)]
