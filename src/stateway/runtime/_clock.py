"""Where the runtime reads the time. The engine never does (``decide`` takes ``now``); the runtime
asks its clock, so that a test can hand it a virtual one and skip a 30-day Wait in milliseconds."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch: due times of timers, schedules and queue messages compare to this."""
        ...


class SystemClock:
    """The wall clock: what a server runs on."""

    def now(self) -> float:
        return time.time()


SYSTEM_CLOCK = SystemClock()
