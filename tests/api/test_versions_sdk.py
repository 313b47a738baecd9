"""Versions, aliases and Qualifier through the official SDK (versions-and-maprun.md §1-§3, §6)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from alibabacloud_fnf20190315 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

from stateway.runtime._qualifier import pick_route


def flow(result: str) -> str:
    return ("Type: StateMachine\nSpecVersion: v1\nStartAt: p\nStates:\n  - Type: Pass\n    Name: p\n"
            f"    OutputConstructor:\n      v: {result}\n    End: true\n")


WAITS = """Type: StateMachine
SpecVersion: v1
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 60
    Parameters:
      resourceArn: acs:mns:::/queues/asks/messages
      message: {token.$: $Context.Current.TaskToken}
    Next: Done
  - Type: Pass
    Name: Done
    OutputConstructor:
      v: one
    End: true
"""

R = m.CreateFlowAliasRequestRoutingConfigurations


def code_of(call):
    with pytest.raises(ClientException) as info:
        call()
    return info.value.code, info.value.status_code


def make(fnf, name="f", definition=None):
    fnf.create_flow(m.CreateFlowRequest(name=name, definition=definition or flow("one"), description="first",
                                        type="FDL"))


def publish(fnf, name="f", description=""):
    return fnf.publish_flow_version(m.PublishFlowVersionRequest(flow_name=name, description=description)).body


def update(fnf, result, name="f"):
    fnf.update_flow(m.UpdateFlowRequest(name=name, definition=flow(result)))


def run(fnf, name, qualifier=None, flow_name="f"):
    return fnf.start_execution(m.StartExecutionRequest(flow_name=flow_name, execution_name=name,
                                                       qualifier=qualifier, input="{}")).body


def output(fnf, name, flow_name="f"):
    body = fnf.describe_execution(m.DescribeExecutionRequest(flow_name=flow_name, execution_name=name,
                                                             wait_time_seconds=10)).body
    assert body.status == "Succeeded", body
    return json.loads(body.output)["v"]


def test_versions_are_immutable_snapshots_numbered_newest_first(fnf):
    make(fnf)
    v1 = publish(fnf, description="v-one")
    assert (v1.flow_name, v1.version, v1.description) == ("f", "1", "v-one") and v1.created_time.endswith("Z")
    update(fnf, "two")
    fnf.update_flow(m.UpdateFlowRequest(name="f", description="second"))
    assert publish(fnf).version == "2"
    update(fnf, "three")
    old = fnf.describe_flow(m.DescribeFlowRequest(name="f", flow_version="1")).body
    assert "v: one" in old.definition and old.description == "first" and old.name == "f"
    assert "v: two" in fnf.describe_flow(m.DescribeFlowRequest(name="f", flow_version="2")).body.definition
    assert "v: three" in fnf.describe_flow(m.DescribeFlowRequest(name="f")).body.definition
    for _ in range(3):
        publish(fnf)
    page = fnf.list_flow_versions(m.ListFlowVersionsRequest(flow_name="f", limit="2")).body
    assert [v.version for v in page.flow_versions] == ["5", "4"] and page.next_token
    rest = fnf.list_flow_versions(m.ListFlowVersionsRequest(flow_name="f", limit="10",
                                                            next_token=page.next_token)).body
    assert [v.version for v in rest.flow_versions] == ["3", "2", "1"] and not rest.next_token
    assert rest.flow_versions[2].description == "v-one"
    # a deleted number is never issued again
    fnf.delete_flow_version(m.DeleteFlowVersionRequest(flow_name="f", flow_version="5"))
    assert publish(fnf).version == "6"


def test_qualifier_runs_a_version_and_records_it(fnf, server):
    make(fnf)
    publish(fnf)
    update(fnf, "two")
    run(fnf, "by-version", "1")
    run(fnf, "current")
    assert output(fnf, "by-version") == "one" and output(fnf, "current") == "two"
    described = server_call(server, "DescribeExecution", FlowName="f", ExecutionName="by-version")
    assert described["FlowVersion"] == "1" and described["Qualifier"] == "1"
    assert "v: one" in described["FlowDefinition"]
    listed = fnf.list_executions(m.ListExecutionsRequest(flow_name="f", qualifier="1")).body.executions
    assert [e.name for e in listed] == ["by-version"]


def test_a_running_execution_keeps_its_version_while_the_flow_and_alias_move(fnf, server):
    make(fnf, definition=WAITS)
    publish(fnf)
    fnf.create_flow_alias(m.CreateFlowAliasRequest(flow_name="f", name="prod",
                                                   routing_configurations=[R(version="1", weight=100)]))
    run(fnf, "pinned", "prod")
    update(fnf, "two")
    publish(fnf)
    fnf.update_flow_alias(m.UpdateFlowAliasRequest(flow_name="f", name="prod",
                                                   routing_configurations=[R(version="2", weight=100)]))
    run(fnf, "moved", "prod")
    assert output(fnf, "moved") == "two"
    runtime = server.runtime
    for _ in range(200):
        tasks = runtime.store.open_tasks()
        if tasks:
            break
        import time
        time.sleep(0.05)
    runtime.report_success(tasks[0]["token"], {})
    assert output(fnf, "pinned") == "one"
    rows = {r.name: r for r in runtime.store.list_executions("f")}
    assert (rows["pinned"].flow_version, rows["pinned"].qualifier) == ("1", "prod")
    assert (rows["moved"].flow_version, rows["moved"].qualifier) == ("2", "prod")
    by_alias = fnf.list_executions(m.ListExecutionsRequest(flow_name="f", qualifier="prod")).body.executions
    assert {e.name for e in by_alias} == {"pinned", "moved"}


def test_alias_shapes_match_the_sdk(fnf):
    make(fnf)
    publish(fnf)
    publish(fnf)
    created = fnf.create_flow_alias(m.CreateFlowAliasRequest(
        flow_name="f", name="prod", description="d",
        routing_configurations=[R(version="1", weight=90), R(version="2", weight=10)])).body
    assert created.flow_name == "f" and created.name == "prod" and created.description == "d"
    assert [(r.version, r.weight) for r in created.routing_configurations] == [("1", 90), ("2", 10)]
    described = fnf.describe_flow_alias(m.DescribeFlowAliasRequest(flow_name="f", name="prod")).body.alias
    assert described.name == "prod" and described.routing_configurations[0].weight == 90
    updated = fnf.update_flow_alias(m.UpdateFlowAliasRequest(flow_name="f", name="prod", description="d2")).body.alias
    assert updated.description == "d2" and len(updated.routing_configurations) == 2  # absent routing kept
    fnf.create_flow_alias(m.CreateFlowAliasRequest(flow_name="f", name="beta",
                                                   routing_configurations=[R(version="2", weight=30)]))
    page = fnf.list_flow_aliases(m.ListFlowAliasesRequest(flow_name="f", limit=1)).body
    assert [a.name for a in page.aliases] == ["beta"] and page.next_token == "prod"
    assert page.aliases[0].routing_configurations[0].weight == "30"  # a string here, as the SDK declares
    rest = fnf.list_flow_aliases(m.ListFlowAliasesRequest(flow_name="f", next_token=page.next_token)).body
    assert [a.name for a in rest.aliases] == ["prod"] and not rest.next_token
    fnf.delete_flow_alias(m.DeleteFlowAliasRequest(flow_name="f", name="beta"))
    assert code_of(lambda: fnf.describe_flow_alias(m.DescribeFlowAliasRequest(flow_name="f", name="beta"))) == (
        "FlowAliasNotExists", 404)


def test_error_codes(fnf):
    assert code_of(lambda: publish(fnf, "nope")) == ("FlowNotExists", 404)
    assert code_of(lambda: fnf.publish_flow_version(m.PublishFlowVersionRequest())) == ("MissingRequiredParams", 400)
    make(fnf)
    publish(fnf)
    alias = lambda name, routes: fnf.create_flow_alias(m.CreateFlowAliasRequest(  # noqa: E731
        flow_name="f", name=name, routing_configurations=routes))
    assert code_of(lambda: alias("a", [R(version="9", weight=100)])) == ("FlowVersionNotExists", 404)
    assert code_of(lambda: alias("a", [R(version="1", weight=0)])) == ("InvalidArgument", 400)
    assert code_of(lambda: alias("a", [R(version="1", weight=101)])) == ("InvalidArgument", 400)
    assert code_of(lambda: alias("a", [R(version="1", weight=5), R(version="1", weight=5)])) == ("InvalidArgument", 400)
    assert code_of(lambda: alias("123", [R(version="1", weight=5)])) == ("InvalidArgument", 400)
    assert code_of(lambda: alias("a", [])) == ("InvalidArgument", 400)
    alias("prod", [R(version="1", weight=100)])
    assert code_of(lambda: alias("prod", [R(version="1", weight=100)])) == ("FlowAliasAlreadyExists", 409)
    delete = lambda v: fnf.delete_flow_version(m.DeleteFlowVersionRequest(flow_name="f", flow_version=v))  # noqa: E731
    assert code_of(lambda: delete("1")) == ("FlowVersionInUse", 409)
    assert code_of(lambda: delete("7")) == ("FlowVersionNotExists", 404)
    assert code_of(lambda: delete("x")) == ("InvalidArgument", 400)
    assert code_of(lambda: fnf.describe_flow(m.DescribeFlowRequest(name="f", flow_version="7"))) == (
        "FlowVersionNotExists", 404)
    assert code_of(lambda: run(fnf, "e1", "7")) == ("FlowVersionNotExists", 404)
    assert code_of(lambda: run(fnf, "e2", "canary")) == ("FlowAliasNotExists", 404)
    assert code_of(lambda: fnf.update_flow_alias(m.UpdateFlowAliasRequest(flow_name="f", name="zz"))) == (
        "FlowAliasNotExists", 404)
    assert code_of(lambda: fnf.list_flow_versions(m.ListFlowVersionsRequest(flow_name="f", limit="0"))) == (
        "InvalidArgument", 400)
    assert code_of(lambda: fnf.list_flow_versions(m.ListFlowVersionsRequest(flow_name="f", next_token="²"))) == (
        "InvalidArgument", 400)
    # DeleteFlow takes versions and aliases with it; a new flow of that name starts at 1
    fnf.delete_flow(m.DeleteFlowRequest(name="f"))
    make(fnf)
    assert publish(fnf).version == "1"
    assert code_of(lambda: fnf.describe_flow_alias(m.DescribeFlowAliasRequest(flow_name="f", name="prod"))) == (
        "FlowAliasNotExists", 404)


def test_canary_weights_hold_over_a_thousand_starts(fnf):
    make(fnf)
    publish(fnf)
    publish(fnf)
    fnf.create_flow_alias(m.CreateFlowAliasRequest(
        flow_name="f", name="canary", routing_configurations=[R(version="1", weight=90), R(version="2", weight=10)]))
    names = [f"c-{i}" for i in range(1000)]
    for name in names:
        run(fnf, name, "canary")
    routing = [{"Version": "1", "Weight": 90}, {"Version": "2", "Weight": 10}]
    expected = Counter(pick_route("f", "canary", n, routing) for n in names)
    got = {v: len(fnf.list_executions(m.ListExecutionsRequest(flow_name="f", qualifier=v, limit=1000)).body.executions)
           for v in ("1", "2")}
    assert got == {"1": expected["1"], "2": expected["2"]}  # the pick is reproducible from the name
    assert abs(got["2"] / 1000 - 0.10) <= 0.03 and abs(got["1"] / 1000 - 0.90) <= 0.03


def server_call(server, action, **params):
    from stateway.client import RpcClient
    from tests.api.fixtures import KEY_ID, SECRET

    return RpcClient(server.endpoint, KEY_ID, SECRET).call(action, **params)
