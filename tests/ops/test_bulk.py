"""Bulk operations: a durable job that stops, redrives or deletes what a filter selects, a page per
transaction, carried on by another worker after its holder died."""

from __future__ import annotations

import time

import pytest

from stateway.app import Stateway
from stateway.app.bulk import BulkFilter
from stateway.runtime import InvalidArgument
from stateway.settings import Settings
from stateway.store import BulkOperationNotExists

WAITS = "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n  - {Type: Wait, Name: W, Seconds: 3600, End: true}\n"
FAILS = "Type: StateMachine\nSpecVersion: v1\nStartAt: F\nStates:\n  - {Type: Fail, Name: F, Code: Boom}\n"


@pytest.fixture
def sw(tmp_path):
    settings = Settings.from_config({"retention": {"bulk_page": 25, "bulk_rate": 100000}}, lease_seconds=1)
    with Stateway.open(f"sqlite:///{tmp_path / 'b.db'}", settings=settings) as app:
        yield app


def until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def stopped_events(sw, execution_id):
    return [e["Type"] for e in sw.store.history(execution_id)].count("ExecutionStopped")


def test_bulk_stop_selects_by_filter_and_stops_each_once(sw):
    sw.flows.create("waits", WAITS)
    rows = [sw.executions.start("waits", {}, f"w-{i}") for i in range(120)]
    other = sw.executions.start("waits", {}, "keep-me")
    job = sw.bulk.start("stop", BulkFilter("waits", status="Running", name_prefix="w-"))
    assert job["total"] == 120 and job["status"] == "Running"
    job = sw.bulk.wait(job["id"], 60)
    assert (job["status"], job["n_done"], job["n_skipped"], job["n_failed"]) == ("Succeeded", 120, 0, 0)
    until(lambda: all(sw.store.execution_status(r.id) == "Stopped" for r in rows))
    assert all(stopped_events(sw, r.id) == 1 for r in rows)
    assert sw.store.execution_status(other.id) == "Running"
    assert [j["id"] for j in sw.bulk.list()] == [job["id"]]


def test_a_job_whose_worker_died_is_taken_over_and_finished_exactly(sw):
    sw.flows.create("waits", WAITS)
    rows = [sw.executions.start("waits", {}, f"w-{i}") for i in range(100)]
    store, now = sw.store, time.time()
    # a worker that dies after one page: its job stays claimed until its lease runs out
    store.create_bulk_operation("bulk-dead", "stop", {"flow_name": "waits"}, now)
    assert store.claim_bulk_operation("dead-worker", now, 1.0) == "bulk-dead"
    job = store.bulk_step("bulk-dead", "dead-worker", now, 1.0, 25, 0.0)
    assert job["n_done"] == 25 and job["cursor"] == rows[24].id
    # a page by someone who does not hold the job changes nothing
    assert store.bulk_step("bulk-dead", "intruder", now, 1.0, 25, 0.0)["n_done"] == 25
    job = until(lambda: (j := store.get_bulk_operation("bulk-dead"))["status"] == "Succeeded" and j)
    assert job["owner"] == sw.runtime.owner and (job["n_done"], job["n_skipped"]) == (100, 0)
    until(lambda: all(sw.store.execution_status(r.id) == "Stopped" for r in rows))
    assert all(stopped_events(sw, r.id) == 1 for r in rows)


def test_bulk_redrive_and_delete(sw):
    sw.flows.create("fails", FAILS)
    failed = [sw.executions.wait(sw.executions.start("fails", {}, f"f-{i}"), 10) for i in range(30)]
    job = sw.bulk.wait(sw.bulk.start("redrive", BulkFilter("fails", status="Failed", error="Boom"))["id"])
    assert (job["status"], job["n_done"]) == ("Succeeded", 30)
    until(lambda: all(sw.store.get_execution(r.id).status == "Failed" for r in failed))
    assert all(sw.store.get_execution(r.id).redrive_count == 1 for r in failed)
    sw.flows.create("waits", WAITS)
    running = sw.executions.start("waits", {}, "running")
    job = sw.bulk.wait(sw.bulk.start("delete", BulkFilter("fails"))["id"])
    assert (job["n_done"], job["n_skipped"]) == (30, 0)
    assert sw.store.list_executions(flow_name="fails") == []
    job = sw.bulk.wait(sw.bulk.start("delete", BulkFilter("waits"))["id"])
    assert (job["n_done"], job["n_skipped"]) == (0, 1)  # never a running execution
    assert sw.store.execution_status(running.id) == "Running"


def test_cancel_and_errors(sw):
    sw.flows.create("waits", WAITS)
    store = sw.store
    store.create_bulk_operation("bulk-x", "stop", {"flow_name": "waits"}, time.time())
    assert store.claim_bulk_operation("someone-else", time.time(), 60.0) == "bulk-x"  # held: nobody runs it
    job = sw.bulk.cancel("bulk-x")
    assert job["status"] == "Cancelled"
    assert sw.bulk.cancel("bulk-x")["status"] == "Cancelled"
    with pytest.raises(BulkOperationNotExists):
        sw.bulk.describe("bulk-none")
    with pytest.raises(InvalidArgument):
        sw.bulk.start("explode", BulkFilter("waits"))
    with pytest.raises(InvalidArgument):
        sw.bulk.start("stop", BulkFilter("waits", status="Sleeping"))
