"""Stateway's benchmarks: ``make bench`` (``QUICK=1`` for a smoke run). Writes bench/results/latest.json.

Figures are medians of several runs after a warm-up, with min and max; nothing here fails on a timing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from stateway.runtime import Runtime
from stateway.store import SQLiteStore

LOOP = """Type: StateMachine
SpecVersion: v1
Name: loop
StartAt: Step
States:
  - Type: Pass
    Name: Step
    InputConstructor:
      i.$: $Input.i + 1
      n.$: $Input.n
    Next: Check
  - Type: Choice
    Name: Check
    Branches:
      - Condition: $Input.i < $Input.n
        Next: Step
    Default: Done
  - Type: Succeed
    Name: Done
"""
TIMER = """Type: StateMachine
SpecVersion: v1
Name: timer
StartAt: W
States:
  - {Type: Wait, Name: W, Seconds: 3600, End: true}
"""
CALLBACK = """Type: StateMachine
SpecVersion: v1
Name: callback
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 3600
    Parameters:
      resourceArn: acs:mns:::/queues/bench/messages
      message: {token.$: $Context.Current.TaskToken}
    Next: After
  - {Type: Pass, Name: After, End: true}
"""


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def runtime_on_disk(tmp: str) -> Runtime:
    return Runtime(SQLiteStore(os.path.join(tmp, f"bench-{time.monotonic_ns()}.db"))).start()


def bench_loop(transitions: int, runs: int) -> dict[str, Any]:
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs + 1):
            runtime = runtime_on_disk(tmp)
            runtime.register_flow("loop", LOOP)
            began = time.perf_counter()
            row = runtime.start_execution("loop", {"i": 0, "n": transitions // 2})
            ended = runtime.wait(row.id, 600)
            took = time.perf_counter() - began
            assert ended.status == "Succeeded", ended
            runtime.close()
            if i > 0:  # the first run warms up
                rates.append(transitions / took)
    return {"transitions": transitions, "stateway_tps": summary(rates)}


def wait_until(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.05)


def bench_parked(count: int, flow: str, name: str, mode: str) -> dict[str, Any]:
    """Marginal memory of a parked execution: park ``count`` to warm every pool and cache, then
    ``count`` more, and divide the second RSS growth by ``count``."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime = runtime_on_disk(tmp)
        runtime.register_flow(name, flow)

        def park() -> list[int]:
            ids = [runtime.start_execution(name, {}).id for _ in range(count)]
            if mode == "callback":
                wait_until(lambda: len(runtime.store.open_tasks()) >= len(parked) + len(ids)
                           and not runtime.store.pending_outbox())
            else:
                wait_until(lambda: not runtime.store.due_executions(time.time(), 1))
            return ids

        parked: list[int] = []
        parked = park()
        gc.collect()
        before, threads_before = rss_bytes(), threading.active_count()
        parked += park()
        gc.collect()
        after, threads_after = rss_bytes(), threading.active_count()
        # Python objects kept per parked execution (the design promise: rows, not objects)
        tracemalloc.start()
        heap_before = tracemalloc.get_traced_memory()[0]
        parked += park()
        gc.collect()
        heap_growth = tracemalloc.get_traced_memory()[0] - heap_before
        tracemalloc.stop()
        statuses = {runtime.store.get_execution(i).status for i in parked[:: max(1, len(parked) // 20)]}
        runtime.close()
    return {"parked": 3 * count, "rss_warm": before, "rss_after": after,
            "bytes_per_execution": max(0, after - before) / count,
            "heap_bytes_per_execution": heap_growth / count, "threads_warm": threads_before,
            "threads_after": threads_after, "statuses": sorted(statuses)}


def bench_callback(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = runtime_on_disk(tmp)
        runtime.register_flow("callback", CALLBACK)
        entered: dict[int, float] = {}
        done = threading.Condition()

        def listener(execution_id: int, events: list[dict[str, Any]]) -> None:
            if any(e["Type"] == "StepEntered" and e["StepName"] == "After" for e in events):
                with done:
                    entered[execution_id] = time.perf_counter()
                    done.notify_all()

        runtime.listeners.append(listener)
        samples = []
        for _ in range(rounds):
            execution_id = runtime.start_execution("callback", {}).id
            wait_until(lambda eid=execution_id: runtime.store.open_tasks(eid))
            token = runtime.store.open_tasks(execution_id)[0]["token"]
            began = time.perf_counter()
            runtime.report_success(token, {"ok": True})
            with done:
                done.wait_for(lambda eid=execution_id: eid in entered, timeout=10)
            samples.append((entered[execution_id] - began) * 1000)
        runtime.close()
    samples.sort()
    return {"rounds": rounds, "inproc_p50_ms": statistics.median(samples),
            "inproc_p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a smoke run that finishes in under a minute")
    args = parser.parse_args()
    quick = args.quick
    results: dict[str, Any] = {"quick": quick, "machine": {"cpus": os.cpu_count()}}
    results["loop"] = bench_loop(2_000 if quick else 10_000, 1 if quick else 3)
    print("loop", json.dumps(results["loop"]), flush=True)
    results["timers"] = bench_parked(200 if quick else 1_000, TIMER, "timer", "timer")
    print("timers", json.dumps(results["timers"]), flush=True)
    results["parked"] = bench_parked(200 if quick else 5_000, CALLBACK, "callback", "callback")
    print("parked", json.dumps(results["parked"]), flush=True)
    results["callback"] = bench_callback(20 if quick else 200)
    print("callback", json.dumps(results["callback"]), flush=True)
    out = Path(__file__).parent / "results" / "latest.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
