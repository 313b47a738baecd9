"""Admission of executions waiting for their flow's concurrency limit (store/_sql_admission.py).

A start over the limit is admitted by the store in the start's own transaction when a slot is
free; otherwise it waits as ``Starting``. This thread admits it later: at once when an execution
ended in this process while some wait (``ended``), and on a periodic pass in every process (every
``POLL_SECONDS``, faster while executions wait, for start rates), so that an end in another
process, a lost wake-up or a limit raised only delays an admission, never loses it. A flow
without a limit costs nothing here: with nothing waiting, ``ended`` is one truth test.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from stateway.runtime import _metrics as metrics
from stateway.store import StoreUnavailable

if TYPE_CHECKING:
    from stateway.runtime._runtime import Runtime
    from stateway.store import ExecutionRow

log = logging.getLogger("stateway.admission")


class Admission:
    POLL_SECONDS = 1.0  # nothing waiting (here): look for waiting executions this often
    WAITING_POLL_SECONDS = 0.1  # executions wait: this often (a start rate's next slot, another worker's end)

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.waiting: set[str] = set()  # flows with executions waiting, as the last pass found them
        self._kick = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._gauged: set[str] = set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="stateway-admission", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- hooks (the runtime's) -------------------------------------------------------------------------
    def started(self, row: ExecutionRow) -> None:
        if row.status == "Starting":  # waits: the next end here should look for it
            self.waiting.add(row.flow_name)

    def ended(self) -> None:
        if self.waiting:
            self._kick.set()

    # -- the pass --------------------------------------------------------------------------------------
    def admit(self) -> int:
        """Admit what every flow's limit allows now; how many were admitted."""
        counts = self.store.waiting_executions()
        self.waiting = set(counts)
        now = self.runtime.clock.now()
        admitted = 0
        for flow_name in counts:
            admitted += len(self.store.admit_waiting(flow_name, now))
        if admitted:
            self.runtime.notify()
            counts = self.store.waiting_executions()
            self.waiting = set(counts)
        for flow_name in self._gauged - set(counts):
            metrics.WAITING_EXECUTIONS.labels(flow_name).set(0)
        for flow_name, count in counts.items():
            metrics.WAITING_EXECUTIONS.labels(flow_name).set(count)
        self._gauged = set(counts)
        return admitted

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._kick.wait(self.WAITING_POLL_SECONDS if self.waiting else self.POLL_SECONDS)
            self._kick.clear()
            if self._stopping.is_set():
                return
            try:
                self.admit()
            except StoreUnavailable:
                log.warning("admission: the store is unavailable; trying again")
            except Exception:
                log.exception("admission pass failed")
