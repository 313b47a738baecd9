"""Concurrency limits: the latency of a start under a flow's limit (a slot free, a key to evaluate,
admission in the start's own transaction) against the same start of a flow without one. Two
figures each: the StartExecution call alone, and start to end of a two-Pass flow. One SQLite file,
the runtime in this process as `stateway serve` runs it."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from stateway.app import Stateway

SMALL = ("Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates:\n  - {Type: Pass, Name: A, Next: B}\n"
         "  - {Type: Pass, Name: B, End: true}\n")


def _latencies(sw: Stateway, flow: str, count: int) -> tuple[list[float], list[float]]:
    calls, ends = [], []
    for i in range(count):
        began = time.perf_counter()
        row = sw.executions.start(flow, {"c": f"customer-{i % 8}"})
        calls.append((time.perf_counter() - began) * 1000)
        sw.executions.wait(row, 10)
        ends.append((time.perf_counter() - began) * 1000)
    return calls, ends


def start_latency(count: int) -> dict[str, float]:
    """p50 (ms) of the start call and of start to end, without a limit and with one (max 1,000
    running, keyed on ``$Input.c``), measured alternately so that both see the same machine."""
    with tempfile.TemporaryDirectory() as folder:
        sw = Stateway.open(f"sqlite:///{Path(folder) / 'limits.db'}")
        try:
            sw.flows.create("free", SMALL)
            sw.flows.create("limited", SMALL)
            sw.flows.set_limit("limited", 1000, "$Input.c")
            _latencies(sw, "free", 50)  # warm-up
            _latencies(sw, "limited", 50)
            free_calls, free_ends, lim_calls, lim_ends = [], [], [], []
            for _ in range(5):
                calls, ends = _latencies(sw, "free", count // 5)
                free_calls += calls
                free_ends += ends
                calls, ends = _latencies(sw, "limited", count // 5)
                lim_calls += calls
                lim_ends += ends
        finally:
            sw.close()
    out = {"free_call_p50_ms": statistics.median(free_calls), "limited_call_p50_ms": statistics.median(lim_calls),
           "free_end_p50_ms": statistics.median(free_ends), "limited_end_p50_ms": statistics.median(lim_ends)}
    out["start_p50_ratio"] = out["limited_end_p50_ms"] / out["free_end_p50_ms"]
    out["call_p50_ratio"] = out["limited_call_p50_ms"] / out["free_call_p50_ms"]
    return {k: round(v, 3) for k, v in out.items()}


if __name__ == "__main__":
    print(start_latency(500))
