"""The operator's commands against a server: exec redrive, exec stop|redrive|delete --all (bulk
operations with a progress bar), bulk list|describe|cancel, flow update --retention-days, and
the actions behind them (RedriveExecution, StartBulkOperation, DescribeBulkOperation)."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from stateway.cli._main import cli
from stateway.client import ApiCallError, RpcClient
from tests.api.fixtures import KEY_ID, SECRET

WAITS = "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n  - {Type: Wait, Name: W, Seconds: 3600, End: true}\n"
FAILS = ("Type: StateMachine\nSpecVersion: v1\nStartAt: P\nStates:\n  - {Type: Pass, Name: P, Next: F}\n"
         "  - {Type: Fail, Name: F, Code: Boom, Detail: broken}\n")


def until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_redrive_and_bulk_commands(server, tmp_path):
    env = {"STATEWAY_ENDPOINT": server.endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}
    runner = CliRunner(env=env)

    def run(*args, code=0, stdin=None):
        result = runner.invoke(cli, list(args), catch_exceptions=False, input=stdin)
        assert result.exit_code == code, result.output
        return result.output

    client = RpcClient(server.endpoint, KEY_ID, SECRET)
    (tmp_path / "fails.yaml").write_text(FAILS)
    (tmp_path / "waits.yaml").write_text(WAITS)
    run("flow", "create", str(tmp_path / "fails.yaml"), "--name", "fails")
    run("flow", "create", str(tmp_path / "waits.yaml"), "--name", "waits")
    run("exec", "start", "fails", "--name", "one", "--wait", code=1)

    described = client.call("DescribeExecution", FlowName="fails", ExecutionName="one")
    assert (described["RedriveCount"], described["RedriveStatus"]) == (0, "REDRIVABLE")
    assert "redrive 1" in run("exec", "redrive", "fails", "one")
    store = server.runtime.store
    until(lambda: store.find_execution("fails", "one").status == "Failed")
    described = client.call("DescribeExecution", FlowName="fails", ExecutionName="one")
    assert described["RedriveCount"] == 1 and described["RedriveDate"]
    history = client.call("GetExecutionHistory", FlowName="fails", ExecutionName="one", Limit=100)["Events"]
    types = [e["Type"] for e in history]
    assert types.count("ExecutionRedriven") == 1 and types[types.index("ExecutionRedriven") + 1] == "StepEntered"
    assert [e["StepName"] for e in history[types.index("ExecutionRedriven"):] if e["Type"] == "StepEntered"] == ["F"]

    try:
        client.call("RedriveExecution", FlowName="waits", ExecutionName="missing")
        raise AssertionError("expected an error")
    except ApiCallError as exc:
        assert exc.code == "ExecutionNotExists"
    for i in range(30):
        client.call("StartExecution", FlowName="waits", ExecutionName=f"w{i}", Input="{}")
    try:
        client.call("RedriveExecution", FlowName="waits", ExecutionName="w0")
        raise AssertionError("expected an error")
    except ApiCallError as exc:
        assert exc.code == "ExecutionNotRedrivable" and exc.status == 400 and "running" in exc.message

    assert "Aborted" in run("exec", "stop", "--all", "--flow", "waits", "--status", "Running", stdin="n\n", code=1)
    out = run("exec", "stop", "--all", "--flow", "waits", "--status", "Running", "--yes")
    assert "Succeeded: done 30, skipped 0, failed 0 of 30" in out
    until(lambda: all(store.find_execution("waits", f"w{i}").status == "Stopped" for i in range(30)))
    jobs = json.loads(run("bulk", "list", "--json"))
    assert jobs[0]["Operation"] == "stop" and jobs[0]["Done"] == 30
    assert "done            30" in run("bulk", "describe", jobs[0]["BulkOperationId"]).replace("  ", "  ")
    assert "Succeeded: done 30" in run("exec", "redrive", "--all", "--flow", "waits", "--status", "Stopped", "-y")
    until(lambda: all(store.find_execution("waits", f"w{i}").status == "Running" for i in range(30)))
    run("exec", "stop", "--all", "--flow", "waits", "-y")
    until(lambda: all(store.find_execution("waits", f"w{i}").status == "Stopped" for i in range(30)))
    assert "done 30" in run("exec", "delete", "--all", "--flow", "waits", "--prefix", "w", "-y")
    assert client.call("ListExecutions", FlowName="waits")["Executions"] == []

    run("flow", "update", "fails", "--retention-days", "3")
    assert client.call("DescribeFlow", Name="fails")["RetentionDays"] == 3
    job = client.call("StartBulkOperation", Operation="delete", FlowName="fails", Status="Failed")
    assert job["Total"] == 1 and job["Filter"] == {"FlowName": "fails", "Status": "Failed"}
    job = until(lambda: (j := client.call("DescribeBulkOperation", BulkOperationId=job["BulkOperationId"]))
                ["Status"] == "Succeeded" and j)
    assert job["Done"] == 1
    assert "usage" in run("exec", "delete", "fails", code=2).lower()
    assert "BulkOperationNotExists" in run("bulk", "cancel", "bulk-nope", code=1)
