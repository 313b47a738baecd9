"""Housekeeping beside the loop: the retention sweep and bulk operations.

**Retention.** Every ``[retention] sweep_seconds``, ended executions whose end is older than their
flow's retention (the flow's ``RetentionDays``, else ``[retention] days``; 0 keeps them) are deleted
with everything they left (``store.delete_executions``), ``batch`` at a time, each batch found by a
range on the ``(flow_name, stopped)`` index and deleted in its own transaction. Running executions
have no end time and are never candidates. Every process sweeps; two sweeping the same rows delete
them once (the delete re-reads what it deletes).

**Bulk operations.** A job (``store.create_bulk_operation``) is claimed with a lease, like due work,
and moved one page per transaction (``store.bulk_step``: the page's executions and the cursor
together), at most ``bulk_rate`` executions a second so that normal work keeps its latency. A
restart or another worker taking over after the lease ran out carries on from the cursor.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from stateway.runtime import _metrics as metrics
from stateway.store import StoreUnavailable

if TYPE_CHECKING:
    from stateway.runtime._runtime import Runtime

log = logging.getLogger("stateway.housekeeping")
DAY = 86400.0
RETENTION_KEY = "RetentionDays"  # a flow's own retention, in its meta


def retention_days(meta: dict[str, Any] | None, default: float) -> float:
    value = (meta or {}).get(RETENTION_KEY)
    return default if value is None else float(value)


class Housekeeping:
    """One thread per runtime; the test harness calls ``sweep`` and ``run_bulk`` itself instead."""

    POLL_SECONDS = 1.0  # how often a worker looks for bulk jobs it was not told of (other processes')

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.settings = runtime.settings.retention
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sweep = time.monotonic() + self.settings.sweep_seconds  # not in a start's rush

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            if not self.store.shared:  # one process owns the file: a predecessor's job claims died with it
                self.store.release_bulk_operations()
            self._thread = threading.Thread(target=self._run, name="stateway-housekeeping", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        """A bulk job was created here: start on it now."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= self._next_sweep:
                    self._next_sweep = time.monotonic() + self.settings.sweep_seconds
                    self.sweep(pause=0.01)
                self.run_bulk()
            except StoreUnavailable:
                log.warning("housekeeping: the store is unavailable; trying again")
            except Exception:
                log.exception("housekeeping failed; trying again")
            self._wake.wait(self.POLL_SECONDS)
            self._wake.clear()

    # -- retention -------------------------------------------------------------------------------------
    def sweep(self, now: float | None = None, *, pause: float = 0.0) -> int:
        """Delete every execution past its retention, a batch per transaction; how many went."""
        now = self.runtime.clock.now() if now is None else now
        began, deleted = time.monotonic(), 0
        for flow in self.store.list_flows():
            days = retention_days(flow.get("meta"), self.settings.days)
            if days <= 0:
                continue
            while not self._stopping.is_set():
                ids = self.store.expired_executions(flow["name"], now - days * DAY, self.settings.batch)
                if not ids:
                    break
                gone = self.store.delete_executions(ids)
                deleted += gone
                metrics.RETENTION_DELETED.inc(gone)
                if len(ids) < self.settings.batch:
                    break
                if pause:
                    time.sleep(pause)  # between batches the loop's commits get the database
        if deleted:
            metrics.RETENTION_RATE.set(deleted / max(time.monotonic() - began, 1e-6))
            log.info("retention: deleted %d ended executions", deleted)
        return deleted

    # -- bulk operations -------------------------------------------------------------------------------
    def run_bulk(self, *, rate: float | None = None) -> int:
        """Claim and run bulk jobs until none is left to claim; how many pages were moved."""
        pages = 0
        while not self._stopping.is_set():
            now = self.runtime.clock.now()
            job_id = self.store.claim_bulk_operation(self.runtime.owner, now, self.runtime.lease)
            if job_id is None:
                return pages
            pages += self.run_job(job_id, rate=rate)
        return pages

    def run_job(self, job_id: str, *, rate: float | None = None) -> int:
        rate = self.settings.bulk_rate if rate is None else rate
        page = self.settings.bulk_page
        pages = 0
        while not self._stopping.is_set():
            began = time.monotonic()
            now = self.runtime.clock.now()
            before = self.store.get_bulk_operation(job_id)
            job = self.store.bulk_step(job_id, self.runtime.owner, now, self.runtime.lease, page,
                                       now - self.runtime.settings.retention.redrive_days * DAY)
            pages += 1
            for outcome in ("done", "skipped", "failed"):
                moved = job[f"n_{outcome}"] - before[f"n_{outcome}"]
                if moved:
                    metrics.BULK_EXECUTIONS.labels(job["operation"], outcome).inc(moved)
            if job["n_done"] > before["n_done"] and job["operation"] in ("stop", "redrive"):
                self.runtime.notify()
            if job["status"] != "Running" or job["owner"] != self.runtime.owner:
                return pages
            # rate limit: a page of N executions takes at least N / rate seconds
            wait = page / rate - (time.monotonic() - began) if rate > 0 else 0
            if wait > 0:
                self._stopping.wait(wait)
        return pages
