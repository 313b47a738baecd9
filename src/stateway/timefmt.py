"""Times as CloudFlow writes them: ``2026-11-28T12:07:03.005Z`` (UTC, milliseconds)."""

from __future__ import annotations

import datetime as _dt


def iso(ts: float) -> str:
    # isoformat (milliseconds, truncated as strftime's %f[:-3] was) costs a quarter less than strftime,
    # and a StartExecution answer writes one or two of these
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
