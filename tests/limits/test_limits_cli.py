"""A flow's concurrency limit through its entry points: ``stateway flow limit``, UpdateFlow's
Stateway parameters (MaxRunning, ConcurrencyKey, StartsPerSecond), DescribeFlow and ``flow
describe``, and the line on the console's flow page."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stateway.cli._main import cli
from stateway.client import ApiCallError, RpcClient
from tests.api.fixtures import KEY_ID, SECRET
from tests.console.test_console_http import sign_in
from tests.ops.test_ops_console import console  # noqa: F401  (the fixture)

WAITS = "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n  - {Type: Wait, Name: W, Seconds: 3600, End: true}\n"


def test_flow_limit_command_update_flow_and_describe(server, tmp_path):
    env = {"STATEWAY_ENDPOINT": server.endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}
    runner = CliRunner(env=env)

    def run(*args, code=0):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    (tmp_path / "waits.yaml").write_text(WAITS)
    run("flow", "create", str(tmp_path / "waits.yaml"), "--name", "waits")
    out = run("flow", "limit", "waits", "--max-running", "2", "--key", "$Input.customerId")
    assert "at most 2 running" in out and "$Input.customerId" in out
    described = run("flow", "describe", "waits")
    assert "max running" in described and "$Input.customerId" in described
    client = RpcClient(server.endpoint, KEY_ID, SECRET)
    flow = client.call("DescribeFlow", Name="waits")
    assert (flow["MaxRunning"], flow["ConcurrencyKey"], flow["StartsPerSecond"]) == (2, "$Input.customerId", 0)
    started = [client.call("StartExecution", FlowName="waits", ExecutionName=f"e{i}",
                           Input='{"customerId": "c1"}') for i in range(3)]
    assert len(started) == 3
    statuses = [client.call("DescribeExecution", FlowName="waits", ExecutionName=f"e{i}")["Status"] for i in range(3)]
    assert statuses == ["Running", "Running", "Starting"]
    listed = client.call("ListExecutions", FlowName="waits", Status="Starting")
    assert [e["Name"] for e in listed["Executions"]] == ["e2"]
    # UpdateFlow: what is not given stays
    flow = client.call("UpdateFlow", Name="waits", StartsPerSecond="5")
    assert (flow["MaxRunning"], flow["ConcurrencyKey"], flow["StartsPerSecond"]) == (2, "$Input.customerId", 5.0)
    flow = client.call("UpdateFlow", Name="waits", Description="limited")
    assert flow["MaxRunning"] == 2 and flow["Description"] == "limited"
    with pytest.raises(ApiCallError) as bad:
        client.call("UpdateFlow", Name="waits", ConcurrencyKey="$Input.(")
    assert bad.value.code == "InvalidArgument"
    with pytest.raises(ApiCallError) as bad:
        client.call("UpdateFlow", Name="waits", MaxRunning="-1")
    assert bad.value.code == "InvalidArgument"
    assert "no concurrency limit" in run("flow", "limit", "waits", "--clear")
    assert "MaxRunning" not in client.call("DescribeFlow", Name="waits")
    run("flow", "limit", "waits", code=2)  # nothing to set


def test_the_console_flow_page_shows_the_limit(console):  # noqa: F811
    console.runtime.register_flow("waits", WAITS)
    sign_in(console)
    assert "flow-limit" not in console.get("/console/flows/waits").text
    console.runtime.store.set_flow_limit("waits", 4, "$Input.c", 2.5)
    page = console.get("/console/flows/waits").text
    assert 'id="flow-limit"' in page and "at most 4 running" in page and "2.5 starts/s" in page
