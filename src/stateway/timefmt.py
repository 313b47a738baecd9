"""Times as CloudFlow writes them: ``2026-11-28T12:07:03.005Z`` (UTC, milliseconds)."""

from __future__ import annotations

import datetime as _dt


def iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
