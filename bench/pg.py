"""``pg.*`` figures: Stateway on PostgreSQL as it is deployed, every node its own process.

A throwaway PostgreSQL cluster with its durable defaults (fsync, synchronous commit), one API-only
node (``serve --api-only``), one or two ``stateway worker`` processes, and clients in processes of
their own. Executions/s is measured from the first StartExecution to the last execution ended.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.workloads import FIVE_FDL

CALLBACK = """Type: StateMachine
Name: ping
SpecVersion: v1
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Parameters:
      resourceArn: acs:mns:::/queues/ping/messages
      message: {token.$: $Context.Current.TaskToken}
    End: true
"""
SLOW = """Type: StateMachine
Name: slow
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters: {resourceArn: "acs:fc:::functions/mark"}
    End: true
"""
MARK = """import time
def handler(event, context):
    with open(__file__ + ".starts", "a") as f:
        f.write(f"{time.time()}\\n")
    time.sleep(1.0)
    return {"ok": True}
"""


STATEMENTS = "-c shared_preload_libraries=pg_stat_statements"


@contextmanager
def cluster(statements: bool = False) -> Iterator[Any]:
    """``statements``: with ``pg_stat_statements`` loaded (``db_counters``)."""
    from tests.pg.cluster import PgCluster, postgres_bin

    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("no PostgreSQL binaries (initdb, pg_ctl)")
    pg = PgCluster(bindir, durable=True, options=STATEMENTS if statements else "").init()
    try:
        yield pg
    finally:
        pg.destroy()


@contextmanager
def topology(workers: int, functions: Path | None = None) -> Iterator[tuple[str, list[Any], list[Any], Any]]:
    """One API-only node and ``workers`` workers on a fresh database."""
    from tests.pg.processes import api_node, worker

    from stateway.store import open_store

    with cluster() as pg, tempfile.TemporaryDirectory() as tmp:
        url = pg.new_database()
        store = open_store(url)
        fdir = functions or Path(tmp)
        nodes = [api_node(url, Path(tmp) / "api.log")]
        ws = [worker(url, fdir, Path(tmp) / f"worker{i}.log") for i in range(workers)]
        try:
            for node in [*nodes, *ws]:
                node.wait_ready(60)
            yield url, nodes, ws, store
        finally:
            for node in [*nodes, *ws]:
                node.stop()
            store.close()


def _start_many(endpoint: str, flow: str, indexes: list[int]) -> None:
    """One client process, one request after the other."""
    from stateway.client import RpcClient

    client = RpcClient(endpoint, "test", "test")
    for i in indexes:
        client.call("StartExecution", FlowName=flow, Input=json.dumps({"n": i}))


def small_eps(count: int, workers: int, clients: int = 8) -> float:
    """Small executions (five states, a Parallel) per second, API node separate, clients in processes
    (eight: with fewer, the figure measures one request's latency rather than what the nodes can take)."""
    return _small_run(count, workers, clients)[0]


def cpu_ms_per_execution(count: int, workers: int = 2, clients: int = 8) -> dict[str, float]:
    """Where the CPU of one small execution goes: the API node, the workers, PostgreSQL's backends and
    the clients. On one machine their sum bounds executions/s at (cores × 1000) / sum."""
    return _small_run(count, workers, clients)[1]


def _small_run(count: int, workers: int, clients: int) -> tuple[float, dict[str, float]]:
    from multiprocessing import get_context

    from stateway.client import RpcClient

    with topology(workers) as (_, nodes, ws, store):
        endpoint = nodes[0].endpoint
        RpcClient(endpoint, "test", "test").call("CreateFlow", Name="five", Definition=FIVE_FDL, Description="",
                                                 Type="FDL")
        with get_context("spawn").Pool(clients) as pool:
            pool.starmap(_start_many, [(endpoint, "five", [0])] * clients)  # processes up, imports done
            _wait(lambda: store.count_executions("five", "Succeeded") >= clients)
            pids = {"api": [n.proc.pid for n in nodes], "workers": [w.proc.pid for w in ws],
                    "clients": [p.pid for p in pool._pool]}  # type: ignore[attr-defined]
            before = {k: sum(map(_cpu_seconds, v)) for k, v in pids.items()}
            pg_before = _postgres_cpu()
            began = time.perf_counter()
            pool.starmap(_start_many, [(endpoint, "five", list(range(i, count, clients))) for i in range(clients)])
            _wait(lambda: store.count_executions("five", "Succeeded") >= count + clients)
            eps = count / (time.perf_counter() - began)
            cpu = {k: (sum(map(_cpu_seconds, v)) - before[k]) * 1000 / count for k, v in pids.items()}
        cpu["postgres"] = (_postgres_cpu() - pg_before) * 1000 / count
        return eps, {k: round(v, 2) for k, v in cpu.items()}


def db_counters(url: str) -> dict[str, float]:
    """Statements PostgreSQL ran for this database so far (``pg_stat_statements``: every statement a client
    sent), its commits (``COMMIT`` statements: explicit transactions) and ``write_xacts``, a counter of
    the transactions that wrote (a ``COMMIT`` or an autocommit statement that wrote; a difference of
    two readings counts the cluster's, so only while one side runs)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        # the nodes' role only: the bench watches through a role of its own (``watcher_url``)
        rows = conn.execute("SELECT query, calls FROM pg_stat_statements WHERE dbid = "
                            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                            "AND userid = (SELECT oid FROM pg_roles WHERE rolname = 'postgres')").fetchall()
        # transactions that wrote, in whatever form (BEGIN ... COMMIT, or one statement in autocommit): the
        # transaction ids handed out so far, read without taking one (cluster-wide: sides run in turns)
        next_xid = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()[0]
    return {"statements": float(sum(calls for _, calls in rows)),
            "commits": float(sum(calls for query, calls in rows if query.strip().upper() == "COMMIT")),
            "write_xacts": float(next_xid)}


def watcher_url(pg: Any, url: str) -> str:
    """``url`` as the role ``bench``, whose statements (the bench polling for ends) are not counted."""
    import psycopg

    with psycopg.connect(pg.url(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'bench'").fetchone() is None:
            conn.execute("CREATE ROLE bench LOGIN SUPERUSER")
    return url.replace("postgres@", "bench@", 1)


def _postgres_cpu(postmaster: int | None = None) -> float:
    """CPU of PostgreSQL's processes; with ``postmaster`` (a pid), of that cluster's alone (other
    clusters on the machine, e.g. tests running beside the bench, are not counted). Backends that
    ended meanwhile are lost to the count, so a figure can only be too low."""
    if postmaster is None:
        postmaster = int(os.environ.get("STATEWAY_BENCH_POSTMASTER", "0")) or None
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            if not text.split("(", 1)[1].startswith("postgres"):
                continue
            pid = int(stat.parent.name)
            if postmaster is None or pid == postmaster or int(text.rsplit(")", 1)[1].split()[1]) == postmaster:
                total += _cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            continue
    return total


def postmaster_pid(pg: Any) -> int:
    return int(Path(pg.data, "postmaster.pid").read_text().split()[0])


def callback_p50_ms(rounds: int) -> dict[str, float]:
    """ReportTaskSucceeded through the API node until the execution has ended (seen in the database)."""
    from stateway.client import RpcClient

    with topology(1) as (_, nodes, _, store):
        client = RpcClient(nodes[0].endpoint, "test", "test")
        client.call("CreateFlow", Name="ping", Definition=CALLBACK, Description="", Type="FDL")
        samples, rpcs, floors = [], [], []
        for i in range(rounds + 3):
            row_id = client.call("StartExecution", FlowName="ping", ExecutionName=f"p{i}", Input="{}")["Name"]
            _wait(lambda name=row_id: store.open_tasks_of("ping") and any(
                t["execution_name"] == name for t in store.open_tasks_of("ping")))
            token = next(t["token"] for t in store.open_tasks_of("ping") if t["execution_name"] == row_id)
            began = time.perf_counter()
            client.call("ReportTaskSucceeded", TaskToken=token, Output="{}")
            answered = time.perf_counter()
            _wait(lambda name=row_id: store.find_execution("ping", name).status == "Succeeded", step=0.0005)
            ended = time.perf_counter()
            client.call("DescribeRegions")  # the floor: a signed request that touches nothing but its nonce
            if i >= 3:  # warm-up rounds
                samples.append((ended - began) * 1000)
                rpcs.append((answered - began) * 1000)
                floors.append((time.perf_counter() - ended) * 1000)
        samples.sort()
        # rpc_p50: the report's own round trip, the API node's part of the callback (issue 19: <= 4 ms)
        return {"p50": statistics.median(samples), "p99": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
                "rpc_p50": statistics.median(rpcs), "floor_p50": statistics.median(floors)}


def takeover_seconds() -> float:
    """Two workers; the one running a function is killed with SIGKILL. Seconds until the other one
    runs the function again (what it does after the dead worker's lease ran out)."""
    from stateway.client import RpcClient

    with tempfile.TemporaryDirectory() as tmp:
        functions = Path(tmp)
        (functions / "mark.py").write_text(MARK)
        starts = functions / "mark.py.starts"
        with topology(2, functions) as (_, nodes, ws, _):
            client = RpcClient(nodes[0].endpoint, "test", "test")
            client.call("CreateFlow", Name="slow", Definition=SLOW, Description="", Type="FDL")
            client.call("StartExecution", FlowName="slow", ExecutionName="s", Input="{}")
            _wait(lambda: starts.exists() and starts.read_text().strip())
            runner = _running_worker(ws)
            killed = time.time()
            os.kill(runner.proc.pid, signal.SIGKILL)
            runner.proc.wait()
            _wait(lambda: len(starts.read_text().split()) >= 2, timeout=60)
            return float(starts.read_text().split()[1]) - killed


def _running_worker(ws: list[Any]) -> Any:
    """The worker that has a child process (the function); any thread of it may have started it."""
    pids = {w.proc.pid: w for w in ws}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid in pids:
            return pids[ppid]
    raise RuntimeError("no worker is running the function")


def idle_cpu_percent(seconds: float = 10.0) -> float:
    """CPU a worker uses while there is nothing to do (it sleeps on LISTEN and its timers)."""
    with topology(1) as (_, _, ws, _):
        time.sleep(1.0)
        before = _cpu_seconds(ws[0].proc.pid)
        time.sleep(seconds)
        return (_cpu_seconds(ws[0].proc.pid) - before) / seconds * 100


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(predicate: Any, timeout: float = 600, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark did not finish in time")
        time.sleep(step)


def dmap_seconds(items: int, workers: int) -> float:
    """A distributed Map of ``items`` Express children, concurrency 100, on ``workers`` workers: the
    children are ordinary executions, claimed by whichever worker is free."""
    from bench.workloads import DMAP_SPLIT_FDL
    from stateway.client import RpcClient

    with topology(workers) as (_, nodes, _, store):
        client = RpcClient(nodes[0].endpoint, "test", "test")
        client.call("CreateFlow", Name="dmap", Definition=DMAP_SPLIT_FDL, Description="", Type="FDL")
        began = time.perf_counter()
        client.call("StartExecution", FlowName="dmap", ExecutionName="d",
                    Input=json.dumps({"csv": ",".join(str(i) for i in range(items))}))
        _wait(lambda: (row := store.find_execution("dmap", "d")) is not None and row.status != "Running",
              step=0.05)
        elapsed = time.perf_counter() - began
        row = store.find_execution("dmap", "d")
        assert row.status == "Succeeded" and row.output == {"count": items}, row
        return elapsed
