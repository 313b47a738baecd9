"""Acceptance, scaled down: executions parked on waits are stopped by one bulk operation while the
server is killed (-9) halfway and started again. Every one ends Stopped, once; the job's counts add up."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

from stateway.client import RpcClient
from tests.test_serve_cli import start_server

PARKED = "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n  - {Type: Wait, Name: W, Seconds: 86400, End: true}\n"
COUNT = 400


def until(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_bulk_stop_survives_kill_9(tmp_path):
    config = tmp_path / "stateway.toml"
    config.write_text("[retention]\nbulk_rate = 200\nbulk_page = 20\n")  # slow enough to be killed halfway
    proc, endpoint = start_server(tmp_path, "--config", str(config))
    try:
        client = RpcClient(endpoint, "test", "test")
        client.call("CreateFlow", Name="parked", Definition=PARKED, Type="FDL", Description="")
        for i in range(COUNT):
            client.call("StartExecution", FlowName="parked", ExecutionName=f"p{i}", Input="{}")
        job = client.call("StartBulkOperation", Operation="stop", FlowName="parked", Status="Running")
        job_id = job["BulkOperationId"]
        assert job["Total"] == COUNT
        until(lambda: client.call("DescribeBulkOperation", BulkOperationId=job_id)["Done"] >= COUNT // 4)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    with sqlite3.connect(tmp_path / "data" / "stateway.db") as db:
        halfway = db.execute("SELECT n_done + n_skipped, status FROM bulk_operations").fetchone()
    assert COUNT // 4 <= halfway[0] < COUNT and halfway[1] == "Running", halfway  # killed halfway
    proc, endpoint = start_server(tmp_path, "--config", str(config))
    try:
        client = RpcClient(endpoint, "test", "test")
        job = until(lambda: (j := client.call("DescribeBulkOperation", BulkOperationId=job_id))["Status"]
                    == "Succeeded" and j, timeout=180)
        assert (job["Done"], job["Skipped"], job["Failed"]) == (COUNT, 0, 0)
        until(lambda: not client.call("ListExecutions", FlowName="parked", Status="Running", Limit=1)["Executions"])
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    with sqlite3.connect(tmp_path / "data" / "stateway.db") as db:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM executions GROUP BY status").fetchall())
        stops = db.execute("SELECT execution_id, COUNT(*) FROM history WHERE type='ExecutionStopped' "
                           "GROUP BY execution_id").fetchall()
    assert statuses == {"Stopped": COUNT}
    assert len(stops) == COUNT and all(n == 1 for _, n in stops)
