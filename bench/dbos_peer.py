"""The DBOS Transact side of ``bench/peers.py``, run in a process of its own:
``python -m bench.dbos_peer URL WORKLOAD COUNT`` prints one JSON line.

Workloads, as Stateway's in ``bench/peers.py``: ``five_step`` (a workflow of five ``@DBOS.step``
calling a local Python function), ``five_pass`` (five steps that return their input) and
``callback`` (a workflow waiting in ``DBOS.recv``; the bench sends from 4 threads at once, as
Stateway's side reports, and times each send until the workflow's result). Figures cover the measured window only, after DBOS has
launched and run a warm-up workflow: workflows/s, this process's CPU and PostgreSQL's CPU per
workflow, the statements and commits PostgreSQL counted for the database.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.pg import _postgres_cpu, db_counters


def work(event: dict[str, Any]) -> dict[str, Any]:
    """The same function Stateway's five-step flow calls (``bench/peers.py``: WORK)."""
    return {"x": int(event.get("x", 0)) + 1}


def main() -> None:
    url, workload, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.environ.setdefault("DBOS__DISABLE_TELEMETRY", "true")
    from dbos import DBOS, SetWorkflowID

    DBOS(config={"name": "stateway-bench", "system_database_url": url, "log_level": "WARNING",
                 "run_admin_server": False})  # type: ignore[typeddict-unknown-key]

    @DBOS.step()
    def call(event: dict[str, Any]) -> dict[str, Any]:
        return work(event)

    @DBOS.step()
    def same(event: dict[str, Any]) -> dict[str, Any]:
        return event

    @DBOS.workflow()
    def five_step(event: dict[str, Any]) -> dict[str, Any]:
        for _ in range(5):
            event = call(event)
        return event

    @DBOS.workflow()
    def five_pass(event: dict[str, Any]) -> dict[str, Any]:
        for _ in range(5):
            event = same(event)
        return event

    @DBOS.workflow()
    def callback(event: dict[str, Any]) -> Any:
        return DBOS.recv("done", timeout_seconds=600)

    DBOS.launch()
    flows = {"five_step": five_step, "five_pass": five_pass, "callback": callback}
    flow = flows[workload]
    tag = f"{workload}-{os.getpid()}-{time.time_ns()}"
    with SetWorkflowID(f"{tag}-warm"):
        warm = DBOS.start_workflow(flow, {"x": 0})
    if workload == "callback":
        DBOS.send(f"{tag}-warm", "ok", "done")
    warm.get_result()
    cpu0, pg0, counters0 = time.process_time(), _postgres_cpu(), db_counters(url)
    began = time.perf_counter()
    handles = []
    for i in range(count):
        with SetWorkflowID(f"{tag}-{i}"):
            handles.append(DBOS.start_workflow(flow, {"x": i}))
    samples: list[float] = []
    settle = 0.0
    if workload == "callback":
        settle = _wait_pending(DBOS, count, tag)

        def report(i: int) -> float:
            sent = time.perf_counter()
            DBOS.send(f"{tag}-{i}", "ok", "done")
            handles[i].get_result()
            return (time.perf_counter() - sent) * 1000
        with ThreadPoolExecutor(REPORTERS) as pool:  # as many reporting clients as Stateway's side has
            samples = list(pool.map(report, range(count)))
    else:
        for handle in handles:
            handle.get_result()
    elapsed = time.perf_counter() - began - settle
    counters = db_counters(url)
    out = {"wf_s": count / elapsed, "cpu_ms": (time.process_time() - cpu0) * 1000 / count,
           "postgres_cpu_ms": (_postgres_cpu() - pg0) * 1000 / count,
           "statements": (counters["statements"] - counters0["statements"]) / count,
           "commits": (counters["commits"] - counters0["commits"]) / count,
           "write_xacts": (counters["write_xacts"] - counters0["write_xacts"]) / count}
    if samples:
        out["p50_ms"] = statistics.median(samples)
    print(json.dumps(out), flush=True)
    DBOS.destroy()


def _wait_pending(dbos: Any, count: int, tag: str, timeout: float = 120) -> float:
    """Until every workflow waits in its ``recv``: PENDING, and a moment for the last ones to get there.
    That moment is the bench's, not DBOS's work: its length is returned, to leave out of the time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = dbos.list_workflows(status="PENDING", workflow_id_prefix=tag)
        if len(pending) >= count:
            time.sleep(SETTLE)
            return SETTLE
        time.sleep(0.05)
    raise TimeoutError("the DBOS workflows did not all reach recv")


SETTLE = 0.5
REPORTERS = 4


if __name__ == "__main__":
    main()
