"""Retention: ended executions older than their flow's retention go with everything they left;
recent and running ones stay; a deleted execution is gone and its name is free again."""

from __future__ import annotations

import time

import pytest

from stateway.app import Stateway
from stateway.app.errors import ExecutionNotExists
from stateway.settings import Settings

DAY = 86400.0
WAITS = "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n  - {Type: Wait, Name: W, Seconds: 3600, End: true}\n"
QUICK = "Type: StateMachine\nSpecVersion: v1\nStartAt: P\nStates:\n  - {Type: Pass, Name: P, End: true}\n"


@pytest.fixture
def sw(tmp_path):
    # the sweep runs only when the test asks (sweep_seconds is long)
    settings = Settings.from_config({"retention": {"days": 30, "sweep_seconds": 3600, "batch": 7}})
    with Stateway.open(f"sqlite:///{tmp_path / 'r.db'}", settings=settings) as app:
        yield app


def backdate(sw, execution_id, days):
    """The test's clock: move an execution's end (and start) back by ``days``."""
    store = sw.store
    with store._tx() as db:
        db.execute("UPDATE executions SET stopped = stopped - ?, started = started - ? WHERE id=?",
                   (days * DAY, days * DAY, execution_id))


def test_old_ended_executions_go_recent_and_running_stay(sw):
    sw.flows.create("quick", QUICK)
    sw.flows.create("waits", WAITS)
    old = [sw.executions.wait(sw.executions.start("quick", {}, f"old-{i}"), 10) for i in range(20)]
    recent = sw.executions.wait(sw.executions.start("quick", {}, "recent"), 10)
    running = sw.executions.start("waits", {}, "running")
    for row in old:
        backdate(sw, row.id, 31)
    backdate(sw, recent.id, 29)
    with sw.store._tx() as db:  # a running execution that started long ago is still running
        db.execute("UPDATE executions SET started = started - ? WHERE id=?", (100 * DAY, running.id))
    sw.store.put_task_log(old[0].id, "1", "out", "err", time.time())
    sw.store.note_lost_dispatch("inv-old", old[0].id, "1", "f", "SIGKILL", "", time.time(), gave_up=True)
    sw.store.note_lost_dispatch("inv-running", running.id, "1", "f", "SIGKILL", "", time.time())
    assert sw.runtime.housekeeping.sweep() == 20  # in batches of 7
    assert sw.store.lost_dispatches("inv-old")["lost"] == 0  # its dispatch record went with it
    assert sw.store.lost_dispatches("inv-running")["lost"] == 1
    for row in old:
        with pytest.raises(ExecutionNotExists):
            sw.executions.describe("quick", row.name)
        assert sw.store.history(row.id) == []
    assert sw.store.task_logs(old[0].id) == []
    assert sw.executions.describe("quick", "recent").status == "Succeeded"
    assert sw.executions.describe("waits", "running").status == "Running"
    again = sw.executions.wait(sw.executions.start("quick", {"again": True}, "old-0"), 10)  # the name is free
    assert again.status == "Succeeded" and again.input == {"again": True}
    assert sw.runtime.housekeeping.sweep() == 0


def test_per_flow_retention_overrides_the_default(sw):
    sw.flows.create("keep", QUICK)
    sw.flows.create("short", QUICK)
    sw.flows.update("keep", meta={"RetentionDays": 0})  # forever
    sw.flows.update("short", meta={"RetentionDays": 2})
    rows = {name: sw.executions.wait(sw.executions.start(name, {}, "x"), 10) for name in ("keep", "short")}
    for row in rows.values():
        backdate(sw, row.id, 3)
    assert sw.runtime.housekeeping.sweep() == 1
    assert sw.executions.describe("keep", "x").status == "Succeeded"
    with pytest.raises(ExecutionNotExists):
        sw.executions.describe("short", "x")


def test_map_runs_and_children_links_are_deleted(sw, tmp_path):
    flow = """Type: StateMachine
SpecVersion: v1
StartAt: Each
States:
  - Type: Map
    Name: Each
    ProcessorConfig: {Mode: Distributed}
    ItemsPath: $Input.items
    Processor:
      StartAt: P
      States:
        - {Type: Pass, Name: P, End: true}
    End: true
"""
    sw.flows.create("dm", flow)
    row = sw.executions.wait(sw.executions.start("dm", {"items": [{"a": 1}, {"a": 2}]}, "p"), 20)
    assert row.status == "Succeeded"
    runs = [e["EventDetail"]["mapRunName"] for e in sw.store.history(row.id) if e["Type"] == "MapRunStarted"]
    children = sw.store.list_executions(flow_name="dm", parent_id=row.id, with_state=False)
    assert len(children) == 2
    for x in [row, *children]:
        backdate(sw, x.id, 40)
    assert sw.runtime.housekeeping.sweep() == 3
    with pytest.raises(Exception, match="Map Run"):
        sw.store.get_map_run(runs[0])
    assert sw.store.map_run_records(runs[0]) == []


def test_days_zero_keeps_everything(tmp_path):
    settings = Settings.from_config({"retention": {"days": 0, "sweep_seconds": 3600}})
    with Stateway.open(f"sqlite:///{tmp_path / 'k.db'}", settings=settings) as sw:
        sw.flows.create("quick", QUICK)
        row = sw.executions.wait(sw.executions.start("quick", {}, "x"), 10)
        backdate(sw, row.id, 3650)
        assert sw.runtime.housekeeping.sweep() == 0
        assert sw.executions.describe("quick", "x")


def test_the_sweep_finds_and_deletes_through_indexes(sw):
    with sw.store._read() as db:
        plan = " ".join(str(r) for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM executions WHERE flow_name=? AND stopped < ? AND status IN "
            "('Succeeded', 'Failed', 'Stopped', 'TimedOut') ORDER BY stopped LIMIT ?", ("f", 1.0, 10)).fetchall())
    assert "executions_ended" in plan and "SCAN executions" not in plan
    with sw.store._read() as db:
        for table, column in (("history", "execution_id"), ("inbox", "execution_id"), ("open_tasks", "execution_id"),
                              ("outbox", "execution_id"), ("task_logs", "execution_id"),
                              ("invocations", "execution_id"), ("map_runs", "execution_id")):
            plan = " ".join(str(r) for r in db.execute(
                f"EXPLAIN QUERY PLAN DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))",
                ("[1]",)).fetchall())
            assert f"SCAN {table}" not in plan, (table, plan)


def test_a_parent_whose_child_still_runs_is_kept_until_the_child_has_ended(tmp_path):
    from stateway.runtime import Runtime
    from stateway.store import SQLiteStore

    settings = Settings.from_config({"retention": {"days": 30, "sweep_seconds": 3600}})
    runtime = Runtime(SQLiteStore(str(tmp_path / "p.db")), settings=settings, sweep_interval=3600).start()
    sw = Stateway(runtime)
    try:
        sw.flows.create("quick", QUICK)
        sw.flows.create("waits", WAITS)
        parent = sw.executions.wait(sw.executions.start("quick", {}, "parent"), 10)
        child = runtime.start_execution("waits", {}, "child", parent=(parent.id, "1"))
        backdate(sw, parent.id, 40)
        assert sw.runtime.housekeeping.sweep() == 0
        runtime.sweep()  # the level-triggered cancel stops the orphan
        until_ended = time.monotonic() + 20
        while sw.store.execution_status(child.id) == "Running" and time.monotonic() < until_ended:
            time.sleep(0.05)
        assert sw.store.execution_status(child.id) == "Stopped"
        assert sw.runtime.housekeeping.sweep() == 1
        assert sw.store.find_execution("quick", "parent") is None
    finally:
        sw.close()
        runtime.close()
