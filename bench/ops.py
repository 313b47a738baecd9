"""Operating executions at scale: a bulk stop and a bulk delete (executions/s, and the p50 of small
executions started meanwhile against the same p50 when quiet), and the retention sweep (executions
deleted/s). One SQLite file per figure, the runtime in this process as `stateway serve` runs it."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from stateway.app import Stateway
from stateway.app.bulk import BulkFilter  # the rate is [retention] bulk_rate's (1,000/s by default)
from stateway.settings import Settings

PARKED = "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n  - {Type: Wait, Name: W, Seconds: 86400, End: true}\n"
SMALL = ("Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates:\n  - {Type: Pass, Name: A, Next: B}\n"
         "  - {Type: Pass, Name: B, End: true}\n")
DAY = 86400.0


def _open(folder: str, **retention: Any) -> Stateway:
    settings = Settings.from_config({"retention": {"sweep_seconds": 3600, **retention}})
    sw = Stateway.open(f"sqlite:///{Path(folder) / 'ops.db'}", settings=settings)
    sw.flows.create("parked", PARKED)
    sw.flows.create("small", SMALL)
    return sw


def _settle(sw: Stateway) -> None:
    """Until every parked execution has reached its Wait (nothing due soon): the quiet baseline."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        due = sw.store.next_due()
        if due is None or due > time.time() + 3600:
            return
        time.sleep(0.05)


def _small_latencies(sw: Stateway, count: int, stop: threading.Event | None = None) -> list[float]:
    """Start one small execution at a time and wait for its end: ms each."""
    out = []
    for _ in range(count):
        if stop is not None and stop.is_set() and len(out) >= 10:
            break
        began = time.perf_counter()
        sw.executions.wait(sw.executions.start("small", {}), 10)
        out.append((time.perf_counter() - began) * 1000)
    return out


def _bulk(operation: str, parked: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        sw = _open(folder)
        try:
            for i in range(parked):
                sw.executions.start("parked", {}, f"p{i}")
            if operation == "delete":
                job = sw.bulk.wait(sw.bulk.start("stop", BulkFilter("parked"))["id"], 600)
                deadline = time.monotonic() + 600
                while sw.store.count_executions("parked", "Running") and time.monotonic() < deadline:
                    time.sleep(0.05)
            _settle(sw)
            _small_latencies(sw, 20)  # warm-up
            quiet = _small_latencies(sw, 100)
            done = threading.Event()
            meanwhile: list[float] = []
            began = time.perf_counter()
            job = sw.bulk.start(operation, BulkFilter("parked"))
            sampler = threading.Thread(target=lambda: meanwhile.extend(_small_latencies(sw, 10_000, done)))
            sampler.start()
            job = sw.bulk.wait(job["id"], 600)
            if operation == "stop":  # the job asked; the executions end as the loop decides their stops
                while sw.store.count_executions("parked", "Running"):
                    time.sleep(0.01)
            seconds = time.perf_counter() - began
            done.set()
            sampler.join()
            assert job["n_done"] == parked, job
            quiet_p50, busy_p50 = statistics.median(quiet), statistics.median(meanwhile)
            return {"eps": parked / seconds, "quiet_p50_ms": quiet_p50, "meanwhile_p50_ms": busy_p50,
                    "p50_ratio": busy_p50 / quiet_p50, "executions": parked}
        finally:
            sw.close()


def bulk_stop(parked: int) -> dict[str, float]:
    return _bulk("stop", parked)


def bulk_delete(parked: int) -> dict[str, float]:
    return _bulk("delete", parked)


def retention_sweep_eps(count: int) -> float:
    """Executions deleted per second by one sweep over ``count`` ended executions (with history)."""
    with tempfile.TemporaryDirectory() as folder:
        sw = _open(folder)
        try:
            rows = [sw.executions.start("small", {}) for _ in range(count)]
            for row in rows:
                sw.executions.wait(row, 30)
            with sw.store._tx() as db:  # back-dated, as a month of the clock would
                db.execute("UPDATE executions SET stopped = stopped - ?", (40 * DAY,))
            began = time.perf_counter()
            deleted = sw.runtime.housekeeping.sweep()
            seconds = time.perf_counter() - began
            assert deleted == count, deleted
            return count / seconds
        finally:
            sw.close()
