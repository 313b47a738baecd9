"""One function per measurement. Each builds what it needs, measures, cleans up, and returns a number."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from bench import peer
from bench.workloads import (
    CALLBACK_FDL,
    DMAP_FDL,
    ENDLESS_FDL,
    FIVE_ASL,
    FIVE_FDL,
    LOOP_ASL,
    LOOP_FDL,
    MAP_ASL,
    MAP_FDL,
)
from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore

KEY_ID, SECRET = "bench", "bench-secret"
# a Map of 10,000 items writes ~40,000 history events, over the default limit of 25,000, and its
# input and output are over the default 64 KiB
BENCH_LIMITS = {"events": 200_000, "payload_bytes": 1024 * 1024}


@contextmanager
def runtime_on_disk(limits: dict[str, int] | None = None) -> Iterator[Runtime]:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(SQLiteStore(os.path.join(tmp, "bench.db")),
                          settings=Settings.from_config({"limits": limits or BENCH_LIMITS})).start()
        try:
            yield runtime
        finally:
            runtime.close()
            runtime.store.close()


def wait_until(predicate: Any, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the workload did not finish")
        time.sleep(0.002)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# -- ceilings ---------------------------------------------------------------------------------------------
def python_dispatch_tps(transitions: int) -> float:
    """The loop workload as bare Python: a dict of handlers, no durability, no expressions."""
    def step(data: dict[str, int]) -> tuple[str, dict[str, int]]:
        return "Check", {"i": data["i"] + 1, "n": data["n"]}

    def check(data: dict[str, int]) -> tuple[str, dict[str, int]]:
        return ("Step" if data["i"] < data["n"] else "Done"), data

    handlers = {"Step": step, "Check": check}
    state, data, count = "Step", {"i": 0, "n": transitions // 2}, 0
    began = time.perf_counter()
    while state != "Done":
        state, data = handlers[state](data)
        count += 1
    return count / (time.perf_counter() - began)


def sqlite_commits_per_s(commits: int) -> float:
    """Small write transactions on SQLite in WAL mode with the store's settings."""
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(os.path.join(tmp, "ceiling.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        began = time.perf_counter()
        for i in range(commits):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (v) VALUES (?)", (str(i),))
            db.execute("COMMIT")
        elapsed = time.perf_counter() - began
        db.close()
    return commits / elapsed


# -- loop ---------------------------------------------------------------------------------------------------
def loop_tps(transitions: int) -> float:
    with runtime_on_disk() as runtime:
        runtime.register_flow("loop", LOOP_FDL)
        began = time.perf_counter()
        row = runtime.start_execution("loop", {"i": 0, "n": transitions // 2})
        ended = runtime.wait(row.id, 600)
        elapsed = time.perf_counter() - began
        assert ended.status == "Succeeded", ended
    return transitions / elapsed


def serve_loop_tps(transitions: int) -> float:
    """The loop in ``stateway serve`` (its own process, durable SQLite), started and watched through the
    official SDK: from StartExecution to the end seen in the database."""
    from alibabacloud_fnf20190315 import models as m

    with serve_process() as (endpoint, db, _pid):
        client = _client(endpoint)
        client.create_flow(m.CreateFlowRequest(name="loop", definition=LOOP_FDL, description="", type="FDL"))
        began = time.perf_counter()
        client.start_execution(m.StartExecutionRequest(flow_name="loop", execution_name="l",
                                                       input=json.dumps({"i": 0, "n": transitions // 2})))
        wait_until(lambda: db.execute("SELECT status FROM executions WHERE name='l'").fetchone() not in
                   (None, ("Running",)), 600)
        elapsed = time.perf_counter() - began
        assert db.execute("SELECT status FROM executions WHERE name='l'").fetchone() == ("Succeeded",)
    return transitions / elapsed


def peer_loop_tps(transitions: int) -> float:
    with peer.stepfunctions() as sfn:
        arn = peer.create(sfn, "loop", LOOP_ASL)
        began = time.perf_counter()
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"i": 0, "n": transitions // 2}))
        elapsed = peer.wait_all(sfn, arn) - began
        assert peer.statuses(sfn, arn) == ["SUCCEEDED"]
    return transitions / elapsed


# -- many -----------------------------------------------------------------------------------------------------
def many_eps(count: int) -> float:
    with runtime_on_disk() as runtime:
        runtime.register_flow("five", FIVE_FDL)
        began = time.perf_counter()
        for i in range(count):
            runtime.start_execution("five", {"n": i})
        wait_until(lambda: runtime.store.count_executions("five", "Succeeded") >= count)
        return count / (time.perf_counter() - began)


def _start_many(endpoint: str, flow: str, indexes: list[int]) -> None:
    """One client process: the official SDK, one request after the other."""
    from alibabacloud_fnf20190315 import models as m

    client = _client(endpoint)
    for i in indexes:
        client.start_execution(m.StartExecutionRequest(flow_name=flow, input=json.dumps({"n": i})))


def many_http_eps(count: int, clients: int = 2) -> float:
    """``stateway serve`` in its own process, driven by client processes as real users would."""
    from multiprocessing import get_context

    from alibabacloud_fnf20190315 import models as m

    with serve_process() as (endpoint, db, _):
        _client(endpoint).create_flow(m.CreateFlowRequest(name="five", definition=FIVE_FDL, description="",
                                                          type="FDL"))
        with get_context("spawn").Pool(clients) as pool:
            pool.starmap(_start_many, [(endpoint, "five", [0])] * clients)  # processes up, imports done
            done_before = _count(db, "SELECT COUNT(*) FROM executions WHERE status='Succeeded'")
            began = time.perf_counter()
            pool.starmap(_start_many, [(endpoint, "five", list(range(i, count, clients))) for i in range(clients)])
        wait_until(lambda: _count(db, "SELECT COUNT(*) FROM executions WHERE status='Succeeded'")
                   >= done_before + count)
        return count / (time.perf_counter() - began)


def start_rps(count: int, clients: int = 2) -> float:
    """StartExecution requests per second through the official SDK, against ``stateway serve``."""
    from multiprocessing import get_context

    from alibabacloud_fnf20190315 import models as m

    with serve_process() as (endpoint, _, _pid):
        _client(endpoint).create_flow(m.CreateFlowRequest(name="five", definition=FIVE_FDL, description="",
                                                          type="FDL"))
        with get_context("spawn").Pool(clients) as pool:
            pool.starmap(_start_many, [(endpoint, "five", [0])] * clients)
            began = time.perf_counter()
            pool.starmap(_start_many, [(endpoint, "five", list(range(i, count, clients))) for i in range(clients)])
            return count / (time.perf_counter() - began)


def _count(db: sqlite3.Connection, sql: str) -> int:
    return int(db.execute(sql).fetchone()[0])


def _client(endpoint: str) -> Any:
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import utils_models as om

    return Client(om.Config(access_key_id=KEY_ID, access_key_secret=SECRET, endpoint=endpoint, protocol="http",
                            read_timeout=70000))


@contextmanager
def serve_process() -> Iterator[tuple[str, sqlite3.Connection, int]]:
    """``stateway serve`` as a user runs it, on a fresh data directory; yields its endpoint, a read
    connection to its database (for counting what is parked or done) and its pid."""
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        endpoint = f"127.0.0.1:{port}"
        env = {**os.environ, "STATEWAY_ACCESS_KEYS": f"{KEY_ID}:{SECRET}"}
        config = os.path.join(tmp, "stateway.toml")
        with open(config, "w") as f:
            f.write("[limits]\nevents = 200000\n")
        proc = subprocess.Popen([sys.executable, "-m", "stateway.cli", "serve", "--port", str(port), "--data-dir",
                                 tmp, "--config", config], env=env, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: _answers(lambda: _client(endpoint)), 30)
            db = sqlite3.connect(os.path.join(tmp, "stateway.db"), timeout=30)
            try:
                yield endpoint, db, proc.pid
            finally:
                db.close()
        finally:
            proc.terminate()
            proc.wait(10)


def peer_many_eps(count: int) -> float:
    with peer.stepfunctions() as sfn:
        arn = peer.create(sfn, "five", FIVE_ASL)
        began = time.perf_counter()
        for i in range(count):
            sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"n": i}))
        elapsed = peer.wait_all(sfn, arn) - began
        assert peer.statuses(sfn, arn) == ["SUCCEEDED"] * count
    return count / elapsed


# -- map ---------------------------------------------------------------------------------------------------------
def map_seconds(items: int) -> float:
    with runtime_on_disk() as runtime:
        runtime.register_flow("map", MAP_FDL)
        began = time.perf_counter()
        row = runtime.start_execution("map", {"items": [{"i": i} for i in range(items)]})
        ended = runtime.wait(row.id, 600)
        elapsed = time.perf_counter() - began
        assert ended.status == "Succeeded" and ended.output == {"count": items}, ended
    return elapsed


def peer_map_seconds(items: int) -> float:
    with peer.stepfunctions() as sfn:
        arn = peer.create(sfn, "map", MAP_ASL)
        began = time.perf_counter()
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": [{"i": i} for i in range(items)]}))
        elapsed = peer.wait_all(sfn, arn) - began
        assert peer.statuses(sfn, arn) == ["SUCCEEDED"]
    return elapsed


# -- callbacks -----------------------------------------------------------------------------------------------------
class _Entered:
    """Records when each execution enters the state after the callback (the round trip's end)."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.condition = threading.Condition()

    def __call__(self, execution_id: int, events: list[dict[str, Any]]) -> None:
        if any(e["Type"] == "StepEntered" and e["StepName"] == "After" for e in events):
            with self.condition:
                self.at[execution_id] = time.perf_counter()
                self.condition.notify_all()

    def wait(self, execution_id: int) -> float:
        with self.condition:
            self.condition.wait_for(lambda: execution_id in self.at, timeout=10)
        return self.at[execution_id]


def _round_trips(runtime: Runtime, rounds: int, report: Any) -> dict[str, float]:
    entered = _Entered()
    runtime.listeners.append(entered)
    samples = []
    for _ in range(rounds + 5):
        execution_id = runtime.start_execution("callback", {}).id
        wait_until(lambda eid=execution_id: runtime.store.open_tasks(eid))
        token = runtime.store.open_tasks(execution_id)[0]["token"]
        began = time.perf_counter()
        report(token)
        samples.append((entered.wait(execution_id) - began) * 1000)
    samples = samples[5:]  # the first few warm up connections and caches
    return {"p50": statistics.median(samples), "p99": percentile(samples, 0.99)}


def callback_inproc_ms(rounds: int) -> dict[str, float]:
    with runtime_on_disk() as runtime:
        runtime.register_flow("callback", CALLBACK_FDL)
        return _round_trips(runtime, rounds, lambda token: runtime.report_success(token, {"ok": True}))


def callback_http_ms(rounds: int) -> dict[str, float]:
    from alibabacloud_fnf20190315 import models as m

    with server_in_process() as (runtime, fnf_client):
        runtime.register_flow("callback", CALLBACK_FDL)
        client = fnf_client()
        return _round_trips(runtime, rounds, lambda token: client.report_task_succeeded(
            m.ReportTaskSucceededRequest(task_token=token, output='{"ok": true}')))


@contextmanager
def server_in_process() -> Iterator[tuple[Runtime, Any]]:
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import utils_models as om

    from stateway.api import BackgroundServer, create_app

    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    with runtime_on_disk() as runtime:
        app = create_app(runtime, {KEY_ID: SECRET})
        server = BackgroundServer(app).start()

        def client() -> Client:
            return Client(om.Config(access_key_id=KEY_ID, access_key_secret=SECRET, endpoint=server.endpoint,
                                    protocol="http", read_timeout=70000))

        try:
            yield runtime, client
        finally:
            server.stop()
            app.state.service.close()


# -- parked -------------------------------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def parked_in_serve(count: int, clients: int = 4, warm: int | None = None) -> dict[str, Any]:
    """``stateway serve`` as its own process: RSS once warm and idle (``warm`` executions parked first,
    by default a fifth of ``count``), then with ``count`` more executions parked on callbacks; the
    difference per execution."""
    from alibabacloud_fnf20190315 import models as m

    with serve_process() as (endpoint, db, pid):
        _client(endpoint).create_flow(m.CreateFlowRequest(name="callback", definition=CALLBACK_FDL, description="",
                                                          type="FDL"))

        def park(n: int) -> None:
            def start(chunk: range) -> None:
                c = _client(endpoint)
                for _ in chunk:
                    c.start_execution(m.StartExecutionRequest(flow_name="callback"))

            before = _count(db, "SELECT COUNT(*) FROM open_tasks")
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(start, [range(i, n, clients) for i in range(clients)]))
            wait_until(lambda: _count(db, "SELECT COUNT(*) FROM open_tasks") >= before + n
                       and _count(db, "SELECT COUNT(*) FROM outbox") == 0, 600)

        park(warm or max(200, count // 5))  # warm every pool and cache first
        time.sleep(1.0)
        idle = _rss(pid)
        park(count)
        time.sleep(1.0)
        parked = _rss(pid)
    return {"parked": count, "rss_idle": idle, "rss_parked": parked,
            "bytes_per_execution": max(0, parked - idle) / count}


def parked_in_process(flow: str, name: str, count: int, warm: int) -> dict[str, Any]:
    """The embedded engine: RSS and threads once ``warm`` executions are parked (pools and SQLite's
    page cache filled), then with ``count`` more; a parked execution should be rows, not objects."""
    import gc

    with runtime_on_disk() as runtime:
        runtime.register_flow(name, flow)
        db, lock = runtime.store._db, runtime.store._lock

        def settled(target: int) -> bool:
            with lock:
                parked = db.execute("SELECT COUNT(*) FROM inbox WHERE timer_id IS NOT NULL").fetchone()[0] \
                    if name == "timer" else db.execute("SELECT COUNT(*) FROM open_tasks").fetchone()[0]
                return parked >= target and db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0

        def park(n: int, total: int) -> None:
            for _ in range(n):
                runtime.start_execution(name, {})
            wait_until(lambda: settled(total))

        park(warm, warm)
        gc.collect()
        time.sleep(0.5)
        idle, threads_idle = _rss(os.getpid()), threading.active_count()
        park(count, warm + count)
        gc.collect()
        time.sleep(0.5)
        parked, threads_parked = _rss(os.getpid()), threading.active_count()
    return {"parked": count, "warm": warm, "rss_idle": idle, "rss_parked": parked,
            "bytes_per_execution": max(0, parked - idle) / count, "threads_idle": threads_idle,
            "threads_parked": threads_parked}


def _answers(client: Any) -> bool:
    from alibabacloud_fnf20190315 import models as m

    try:
        client().list_flows(m.ListFlowsRequest())
        return True
    except Exception:
        return False


def distributed_map_seconds(items: int) -> float:
    """A distributed Map: each item a child execution (Express, concurrency 100), durable on SQLite."""
    with runtime_on_disk() as runtime:
        runtime.register_flow("dmap", DMAP_FDL)
        began = time.perf_counter()
        row = runtime.start_execution("dmap", {"items": [{"i": i} for i in range(items)]})
        ended = runtime.wait(row.id, 900)
        elapsed = time.perf_counter() - began
        assert ended.status == "Succeeded" and ended.output == {"count": items}, ended
    return elapsed


# -- fairness ---------------------------------------------------------------------------------------------------
class _PeakRss:
    """Samples this process's RSS every 20 ms while it runs; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        self.peak = _rss(os.getpid())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss(os.getpid()))

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def fairness(samples: int, loopers: int = 3) -> dict[str, Any]:
    """Latency of small executions (FIVE_FDL, one after the other, start to end) with nothing else
    running, then while ``loopers`` executions loop endlessly (their events limit raised so they
    never end on their own); and the process's peak RSS during the loaded run."""

    def latencies(runtime: Runtime) -> list[float]:
        out = []
        for i in range(samples + 5):
            began = time.perf_counter()
            row = runtime.start_execution("five", {"n": i})
            ended = runtime.wait(row.id, 60)
            assert ended.status == "Succeeded", ended
            out.append((time.perf_counter() - began) * 1000)
        return out[5:]  # the first few warm caches

    with runtime_on_disk({**BENCH_LIMITS, "events": 10**12}) as runtime:
        runtime.register_flow("five", FIVE_FDL)
        runtime.register_flow("endless", ENDLESS_FDL)
        quiet = latencies(runtime)
        with _PeakRss() as rss:
            looping = [runtime.start_execution("endless", {}).id for _ in range(loopers)]
            time.sleep(0.2)
            busy = latencies(runtime)
            # history, not the stored state: a continuing execution writes its state only now and then
            events = [runtime.store.history_count(e) for e in looping]
            for execution_id in looping:
                runtime.stop_execution(execution_id)
            stopped = [runtime.wait(e, 10).status for e in looping]
        assert stopped == ["Stopped"] * loopers, stopped
    quiet_p50, busy_p50 = statistics.median(quiet), statistics.median(busy)
    return {"samples": samples, "loopers": loopers, "quiet_p50_ms": quiet_p50, "quiet_p99_ms": percentile(quiet, 0.99),
            "loaded_p50_ms": busy_p50, "loaded_p99_ms": percentile(busy, 0.99), "p50_ratio": busy_p50 / quiet_p50,
            "loop_events": sum(events), "peak_rss_mib": rss.peak / 2**20}


# -- stateway run, the whole process ------------------------------------------------------------------------------
def _run_seconds(path: str, execution_input: dict[str, Any]) -> float:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "stateway.cli", "run", path, "--input", json.dumps(execution_input)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"})
    elapsed = time.perf_counter() - began
    assert done.returncode == 0, done.stderr[-2000:]
    return elapsed


def run_loop(transitions: int) -> dict[str, float]:
    """``stateway run`` of the loop as a user runs it (a new process, output to a pipe), within the default
    events limit; and the same process on a one-state flow, its start-up."""
    with tempfile.TemporaryDirectory() as tmp:
        loop = os.path.join(tmp, "loop.yaml")
        with open(loop, "w") as f:
            f.write(LOOP_FDL)
        one = os.path.join(tmp, "one.yaml")
        with open(one, "w") as f:
            f.write("Type: StateMachine\nSpecVersion: v1\nName: one\nStartAt: P\nStates:\n"
                    "  - {Type: Pass, Name: P, End: true}\n")
        _run_seconds(one, {})  # warm the file cache
        startup = statistics.median([_run_seconds(one, {}) for _ in range(3)])
        whole = statistics.median([_run_seconds(loop, {"i": 0, "n": transitions // 2}) for _ in range(3)])
    return {"transitions": transitions, "seconds": whole, "startup_seconds": startup,
            "tps": transitions / whole,
            # None when the machine's load made the one-state run slower than the loop
            "tps_after_startup": transitions / (whole - startup) if whole > startup else None}
