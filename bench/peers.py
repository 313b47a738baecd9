"""``peers.*`` figures: Stateway against DBOS Transact on one throwaway PostgreSQL (fsync on).

Three workloads, each run by both, taking turns (Stateway, DBOS, Stateway, DBOS, ...):

- ``five_step``: five Tasks calling a local Python function (Stateway: ``FC:InvokeFunction`` with
  whatever function runtime this Stateway has; DBOS: five ``@DBOS.step``);
- ``five_pass``: five Pass states (DBOS: five steps that return their input);
- ``callback``: ``WaitForCustomCallback`` and ``ReportTaskSucceeded`` (DBOS: ``recv``/``send``);
  all started at once, then, once all are parked, all reported at once by 4 client threads, each
  report timed until its execution's end is announced (p50). The time of the whole batch, starts
  included, gives workflows/s; DBOS's fixed half second of settling before its sends is left out.

Stateway runs as deployed: one API-only node and one worker process, started through the API by
the bench's own threads; DBOS runs in one process (``bench/dbos_peer.py``), started through its
Python API. CPU per workflow counts Stateway's API node, worker (and the function processes it
waited for) and PostgreSQL; DBOS's process and PostgreSQL. Statements and commits are what
``pg_stat_statements`` counted for each side's database (commits: ``COMMIT`` statements, i.e.
explicit transactions; single autocommit statements are statements, not commits). ``write_xacts``
counts every transaction that wrote, explicit or one autocommit statement (``bench/pg.py``:
``db_counters``): the figure to compare where one side writes in autocommit.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.pg import _postgres_cpu, _wait, cluster, db_counters, postmaster_pid, watcher_url

WORK = """def handler(event, context):
    return {"x": int(event.get("x", 0)) + 1}
"""
FIVE_STEP = "Type: StateMachine\nSpecVersion: v1\nName: five_step\nStartAt: S1\nStates:\n" + "".join(
    f"""  - Type: Task
    Name: S{i}
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/work
      body.$: $Input
    {'End: true' if i == 5 else f'Next: S{i + 1}'}
""" for i in range(1, 6))
FIVE_PASS = "Type: StateMachine\nSpecVersion: v1\nName: five_pass\nStartAt: S1\nStates:\n" + "".join(
    f"  - {{Type: Pass, Name: S{i}, {'End: true' if i == 5 else f'Next: S{i + 1}'}}}\n" for i in range(1, 6))
CALLBACK = """Type: StateMachine
SpecVersion: v1
Name: callback
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Parameters:
      resourceArn: acs:mns:::/queues/peers/messages
      message: {token.$: $Context.Current.TaskToken}
    End: true
"""
FLOWS = {"five_step": FIVE_STEP, "five_pass": FIVE_PASS, "callback": CALLBACK}


def dbos_available() -> str | None:
    """None when DBOS Transact can run here, else why not."""
    try:
        import dbos  # noqa: F401
    except ImportError as exc:
        return f"dbos is not installed ({exc}); `make bench` installs the `peers` extra"
    return None


def compare(count: int, runs: int, callbacks: int) -> dict[str, Any]:
    """Every workload, both sides taking turns; medians per side and the ratios."""
    from tests.pg.processes import api_node, worker

    from stateway.client import RpcClient
    from stateway.store import open_store

    why_not = dbos_available()
    out: dict[str, Any] = {"count": count, "callbacks": callbacks, "runs": runs,
                           "dbos": "measured" if why_not is None else f"skipped: {why_not}"}
    with cluster(statements=True) as pg, tempfile.TemporaryDirectory() as tmp:
        functions = Path(tmp) / "functions"
        functions.mkdir()
        (functions / "work.py").write_text(WORK)
        ours, theirs = pg.new_database(), pg.new_database()
        for url in (ours, theirs):
            _statements_extension(url)
        store = open_store(watcher_url(pg, ours))
        nodes = [api_node(ours, Path(tmp) / "api.log"), worker(ours, functions, Path(tmp) / "worker.log")]
        try:
            os.environ["STATEWAY_BENCH_POSTMASTER"] = str(postmaster_pid(pg))  # this cluster's CPU only, DBOS's too
            for node in nodes:
                node.wait_ready(60)
            client = RpcClient(nodes[0].endpoint, "test", "test")
            for name, text in FLOWS.items():
                client.call("CreateFlow", Name=name, Definition=text, Description="", Type="FDL")
            samples: dict[str, dict[str, list[dict[str, float]]]] = {}
            for workload in FLOWS:
                n = callbacks if workload == "callback" else count
                _stateway_run(client, store, nodes, workload, 2, ours)  # warm-up: imports, the function's first start
                for _ in range(runs):
                    samples.setdefault(workload, {}).setdefault("stateway", []).append(
                        _stateway_run(client, store, nodes, workload, n, ours))
                    if why_not is None:
                        try:
                            samples[workload].setdefault("dbos", []).append(_dbos_run(theirs, workload, n))
                        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                            why_not = f"the DBOS run failed: {exc}"  # said in the results, not fatal
                            out["dbos"] = f"skipped: {why_not}"
                            print(f"  peers: {why_not}", flush=True)
                            samples[workload].pop("dbos", None)
                out[workload] = _summary(samples[workload])
                print(f"  peers.{workload}: {out[workload]}", flush=True)
        finally:
            os.environ.pop("STATEWAY_BENCH_POSTMASTER", None)
            for node in nodes:
                node.stop()
            store.close()
    step, passed = out["five_step"]["stateway"], out["five_pass"]["stateway"]
    out["per_function_step"] = {  # what a function step costs beyond a Pass state, per step
        "statements": (step["statements"] - passed["statements"]) / 5,
        "commits": (step["commits"] - passed["commits"]) / 5,
        "cpu_ms": (step["cpu_ms"] - passed["cpu_ms"]) / 5}
    return out


def _summary(sides: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {side: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
                               for side, runs in sides.items() if runs}
    if "dbos" in summary:
        summary["ratio"] = summary["stateway"]["wf_s"] / summary["dbos"]["wf_s"]
        if "p50_ms" in summary["dbos"]:
            summary["latency_ratio"] = summary["stateway"]["p50_ms"] / summary["dbos"]["p50_ms"]
    return summary


def _stateway_run(client: Any, store: Any, nodes: list[Any], workload: str, count: int, url: str) -> dict[str, float]:
    tag = f"{workload[:4]}{time.time_ns()}"
    pids = [n.proc.pid for n in nodes]
    cpu0, pg0, counters0 = sum(map(_cpu_all, pids)), _postgres_cpu(), db_counters(url)
    done0 = store.count_executions(workload, "Succeeded")
    began = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: client.call("StartExecution", FlowName=workload, ExecutionName=f"{tag}-{i}",
                                            Input=json.dumps({"x": i})), range(count)))
    out: dict[str, float] = {"start_s": time.perf_counter() - began}
    if workload == "callback":
        out.update(_report_all(client, store, workload, tag, count, began))
    _wait(lambda: store.count_executions(workload, "Succeeded") >= done0 + count, step=0.005)
    elapsed = time.perf_counter() - began
    counters = db_counters(url)
    out.update({"wf_s": count / elapsed, "cpu_ms": (sum(map(_cpu_all, pids)) - cpu0) * 1000 / count,
                "postgres_cpu_ms": (_postgres_cpu() - pg0) * 1000 / count,
                "statements": (counters["statements"] - counters0["statements"]) / count,
                "commits": (counters["commits"] - counters0["commits"]) / count,
                "write_xacts": (counters["write_xacts"] - counters0["write_xacts"]) / count})
    return out


def _report_all(client: Any, store: Any, workload: str, tag: str, count: int, began: float) -> dict[str, float]:
    """Every parked execution reported by 4 client threads at once (the same 4 that started them),
    each timed from its report until the engine's end notice for it: the notice is how an engine's
    own waiters learn of an end, as DBOS's handle does; polling the table every half millisecond
    would load the 2 cores both sides share, and only this side."""
    waiters: dict[int, threading.Event] = {}

    def on_notice(topic: str) -> None:
        if topic.startswith("ended:"):
            waiter = waiters.get(int(topic.partition(":")[2]))
            if waiter is not None:
                waiter.set()
    store.subscribe(on_notice)
    _wait(lambda: len(store.open_tasks_of(workload)) >= count)
    parked = {t["execution_name"]: (t["token"], t["execution_id"]) for t in store.open_tasks_of(workload)}
    opened = time.perf_counter() - began
    tasks = [parked[f"{tag}-{i}"] for i in range(count)]
    for _, execution_id in tasks:
        waiters[execution_id] = threading.Event()

    def report(task: tuple[str, int]) -> float:
        token, execution_id = task
        sent = time.perf_counter()
        client.call("ReportTaskSucceeded", TaskToken=token, Output="{}")
        while not waiters[execution_id].wait(0.05) and store.execution_status(execution_id) != "Succeeded":
            pass
        return (time.perf_counter() - sent) * 1000
    with ThreadPoolExecutor(4) as pool:
        samples = list(pool.map(report, tasks))
    return {"open_s": opened, "p50_ms": statistics.median(samples)}


def _dbos_run(url: str, workload: str, count: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "bench.dbos_peer", url, workload, str(count)], env=env, cwd=root,
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the DBOS run failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def _cpu_all(pid: int) -> float:
    """A process's CPU with that of the children it waited for (the function processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _statements_extension(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

