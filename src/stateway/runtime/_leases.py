"""Keeps a worker's claims alive: renews every lease it still holds, a few times per lease.

A worker that cannot reach the store for a whole lease loses its claims for good (``renew_claims``
never revives a lease that ran out), so another worker takes its work over, and its own late
commits are refused (``LeaseLost``)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from stateway.settings import DEFAULT_LEASE_SECONDS

log = logging.getLogger("stateway.runtime.leases")

# renewed every lease/4; a dead worker's claims run out within DEFAULT_LEASE and are looked for
# every lease/4, so its work moves within 1.25 x 6 = 7.5 s (the target is 10 s)
DEFAULT_LEASE = DEFAULT_LEASE_SECONDS


def new_owner_id() -> str:
    """Unique per process start: host, pid and a random part (a restarted pid is a new owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    def __init__(self, store: Any, owner: str, lease: float, now: Any = time.time) -> None:
        self.store = store
        self.now = now
        self.owner = owner
        self.lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stateway-leases", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.lease / 4):
            try:
                self.store.renew_claims(self.owner, self.now(), self.lease)
            except Exception as exc:  # the store is away: keep trying; the lease decides what we lose
                log.warning("could not renew leases: %s", exc)
