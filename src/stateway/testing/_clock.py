"""The virtual clock a test's engine runs on: it moves only when the test (or time skipping) moves it."""

from __future__ import annotations

import datetime as dt

# 2026-01-01T00:00:00Z: a fixed start, so that times in outputs and histories are the same on every run
DEFAULT_START = 1_767_225_600.0


class VirtualClock:
    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"time moves forward only: advance({seconds!r})")
        self._now += float(seconds)
        return self._now

    def set(self, moment: float | dt.datetime) -> float:
        """Move to an absolute moment (epoch seconds or an aware datetime); never backwards."""
        value = moment.timestamp() if isinstance(moment, dt.datetime) else float(moment)
        if value < self._now:
            raise ValueError(f"time moves forward only: {value} is before {self._now}")
        self._now = value
        return self._now

    def __repr__(self) -> str:
        return f"VirtualClock({dt.datetime.fromtimestamp(self._now, dt.UTC).isoformat()})"
