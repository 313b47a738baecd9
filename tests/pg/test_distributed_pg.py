"""The distributed-Map cases, and versions with aliases, on PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.conformance.harness import CASE_ROOT, check, load_case, run_in_engine
from tests.pg.test_conformance_pg import KEY_ID, SECRET, pg_runtime, pg_server  # noqa: F401  (fixtures)

CASES = sorted(f"distributed/{p.stem}" for p in (CASE_ROOT / "distributed").glob("*.yaml"))


@pytest.mark.parametrize("name", CASES)
def test_distributed_case_through_engine_on_postgres(name, pg_runtime):  # noqa: F811
    case = load_case(name)
    check(case, run_in_engine(case, pg_runtime))


def test_alias_pins_a_version_on_postgres(pg_server):  # noqa: F811
    from alibabacloud_fnf20190315 import models as m
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import utils_models as om

    fnf = Client(om.Config(access_key_id=KEY_ID, access_key_secret=SECRET, endpoint=pg_server.endpoint,
                           protocol="http", read_timeout=70000))

    def flow(v):
        return f"Type: StateMachine\nSpecVersion: v1\nStartAt: p\nStates:\n  - Type: Pass\n    Name: p\n" \
               f"    OutputConstructor: {{v: {v}}}\n    End: true\n"

    fnf.create_flow(m.CreateFlowRequest(name="f", definition=flow("one"), description="", type="FDL"))
    fnf.publish_flow_version(m.PublishFlowVersionRequest(flow_name="f"))
    fnf.update_flow(m.UpdateFlowRequest(name="f", definition=flow("two")))
    fnf.create_flow_alias(m.CreateFlowAliasRequest(
        flow_name="f", name="prod", routing_configurations=[m.CreateFlowAliasRequestRoutingConfigurations(
            version="1", weight=100)]))
    fnf.start_execution(m.StartExecutionRequest(flow_name="f", execution_name="a", qualifier="prod", input="{}"))
    done = fnf.describe_execution(m.DescribeExecutionRequest(flow_name="f", execution_name="a",
                                                             wait_time_seconds=20)).body
    assert done.status == "Succeeded" and json.loads(done.output) == {"v": "one"}
    versions = fnf.list_flow_versions(m.ListFlowVersionsRequest(flow_name="f")).body.flow_versions
    assert [v.version for v in versions] == ["1"]
