"""Redrive, bulk operations and retention on PostgreSQL with two nodes on one database: two
redrives at once give one; a bulk job whose worker died is finished by another, each execution
once; the retention sweep and the Map Run carry-over run on PostgreSQL's SQL."""

from __future__ import annotations

import threading
import time

from stateway.app import Stateway
from stateway.app.errors import ExecutionNotRedrivable
from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import open_store

WAITS = "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n  - {Type: Wait, Name: W, Seconds: 3600, End: true}\n"
DAY = 86400.0


def _nodes(pg_url: str, count: int = 2) -> list[Stateway]:
    settings = Settings.from_config({"retention": {"sweep_seconds": 3600, "bulk_page": 20}}, lease_seconds=2)
    return [Stateway(Runtime(open_store(pg_url), settings=settings, sweep_interval=0.5).start()) for _ in range(count)]


def _close(nodes: list[Stateway]) -> None:
    for node in nodes:
        node.close()
        node.runtime.close()
        node.store.close()


def until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_concurrent_redrives_across_nodes_give_one(pg_url):
    nodes = _nodes(pg_url)
    try:
        a, b = nodes
        a.flows.create("waits", WAITS)
        row = a.executions.start("waits", {}, "x")
        a.executions.stop("waits", "x")
        until(lambda: a.store.execution_status(row.id) == "Stopped")
        results, barrier = [], threading.Barrier(6)

        def go(node):
            barrier.wait()
            try:
                node.executions.redrive("waits", "x")
                results.append("ok")
            except ExecutionNotRedrivable as exc:
                results.append(str(exc))

        threads = [threading.Thread(target=go, args=(nodes[i % 2],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count("ok") == 1 and all("running" in r for r in results if r != "ok"), results
        until(lambda: a.store.execution_status(row.id) == "Running"
              and "ExecutionRedriven" in [e["Type"] for e in a.store.history(row.id)])
        b.executions.stop("waits", "x")
        until(lambda: a.store.execution_status(row.id) == "Stopped")
        types = [e["Type"] for e in a.store.history(row.id)]
        assert types.count("ExecutionRedriven") == 1 and a.store.get_execution(row.id).redrive_count == 1
    finally:
        _close(nodes)


def test_a_bulk_stop_survives_its_worker_and_stops_each_once(pg_url):
    nodes = _nodes(pg_url)
    try:
        a = nodes[0]
        a.flows.create("waits", WAITS)
        rows = [a.executions.start("waits", {}, f"w{i}") for i in range(150)]
        store, now = a.store, time.time()
        store.create_bulk_operation("bulk-dead", "stop", {"flow_name": "waits", "status": "Running"}, now)
        assert store.claim_bulk_operation("dead-worker", now, 2.0) == "bulk-dead"
        assert store.bulk_step("bulk-dead", "dead-worker", now, 2.0, 20, 0.0)["n_done"] == 20
        job = until(lambda: (j := store.get_bulk_operation("bulk-dead"))["status"] == "Succeeded" and j)
        assert job["owner"] in {n.runtime.owner for n in nodes} and (job["n_done"], job["n_skipped"]) == (150, 0)
        until(lambda: all(store.execution_status(r.id) == "Stopped" for r in rows))
        assert all([e["Type"] for e in store.history(r.id)].count("ExecutionStopped") == 1 for r in rows)
    finally:
        _close(nodes)


def test_retention_and_map_run_carry_over_on_postgres(pg_url):
    nodes = _nodes(pg_url, 1)
    try:
        sw = nodes[0]
        sw.flows.create("waits", WAITS)
        ended = [sw.executions.start("waits", {}, f"e{i}") for i in range(5)]
        running = sw.executions.start("waits", {}, "running")
        for row in ended:
            sw.executions.stop("waits", row.name)
        until(lambda: all(sw.store.execution_status(r.id) == "Stopped" for r in ended))
        with sw.store._tx() as db:
            db.execute("UPDATE executions SET stopped = stopped - %s, started = started - %s WHERE flow_name='waits'",
                       (40 * DAY, 40 * DAY))
        assert sw.runtime.housekeeping.sweep() == 5
        assert sw.store.find_execution("waits", "e0") is None
        assert sw.store.execution_status(running.id) == "Running"
        base = {"execution_id": running.id, "task_id": "1", "flow_name": "waits", "flow_version": "",
                "concurrency": 1, "tolerated_count": None, "tolerated_percentage": None, "execution_mode": "Standard",
                "definition": WAITS, "globals": "{}", "writer": None}
        sw.store.create_map_run({**base, "name": "old"}, [{"n": 0}, {"n": 1}, {"n": 2}], [1, 1, 1])
        sw.store.claim_map_items("old")
        sw.store.map_item_ended("old", 0, True, {"done": 0}, "", "")
        sw.store.create_map_run({**base, "name": "new"}, [{"n": 0}, {"n": 1}, {"n": 2}], [1, 1, 1])
        assert sw.store.carry_over_map_run("new", "old") == 1
        assert sw.store.carry_over_map_run("new", "old") == 0  # again after a crash: nothing more
        counts = sw.store.get_map_run("new")["counts"]
        assert (counts["Succeed"], counts["Pending"]) == (1, 2)
        assert sw.store.map_run_results("new")[0] == {"done": 0}
    finally:
        _close(nodes)
