"""StartExecution reads its flow with the start (one statement on PostgreSQL), and still answers as
when it read the flow first: FlowNotExists, then an Express flow, then a problem with the request."""

from __future__ import annotations

import pytest

from stateway.client import ApiCallError, RpcClient
from tests.api.fixtures import KEY_ID, SECRET, server  # noqa: F401  (the fixture)

FLOW = "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n  - {Type: Wait, Name: W, Seconds: 3600, End: true}\n"


def _code(client: RpcClient, **params: str) -> str:
    with pytest.raises(ApiCallError) as refused:
        client.call("StartExecution", **params)
    return refused.value.code


def test_errors_come_in_the_order_of_a_read_first(server):  # noqa: F811
    client = RpcClient(server.endpoint, KEY_ID, SECRET)
    client.call("CreateFlow", Name="std", Definition=FLOW, Description="", Type="FDL")
    client.call("CreateFlow", Name="fast", Definition=FLOW, Description="", Type="FDL", ExecutionMode="Express")
    assert _code(client, FlowName="absent", Input="[1]") == "FlowNotExists"
    assert _code(client, FlowName="absent", ExecutionName="bad name!") == "FlowNotExists"
    assert _code(client, FlowName="absent", Qualifier="3") == "FlowNotExists"
    assert _code(client, FlowName="fast", ExecutionName="bad name!") == "InvalidArgument"
    with pytest.raises(ApiCallError) as express:
        client.call("StartExecution", FlowName="fast", ExecutionName="ok")
    assert "Express flow" in express.value.message
    with pytest.raises(ApiCallError) as named:
        client.call("StartExecution", FlowName="std", ExecutionName="bad name!")
    assert named.value.code == "InvalidArgument" and "Express" not in named.value.message
    assert _code(client, FlowName="std", Input="[1]") == "InvalidArgument"
    assert _code(client, FlowName="std", Qualifier="3") == "FlowVersionNotExists"
    started = client.call("StartExecution", FlowName="std", ExecutionName="e1", Input='{"a": 1}')
    assert started["Status"] == "Running" and started["Name"] == "e1"
    assert client.call("StartExecution", FlowName="std", ExecutionName="e1")["Name"] == "e1"  # the same one
