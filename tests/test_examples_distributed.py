"""The distributed-Map conformance cases (tests/conformance/cases/distributed) through the engine,
`stateway run` and `stateway serve` with the official SDK."""

from __future__ import annotations

import pytest

from tests.conformance.harness import CASE_ROOT, check, load_case, run_in_cli, run_in_engine, run_in_server

CASES = sorted(f"distributed/{p.stem}" for p in (CASE_ROOT / "distributed").glob("*.yaml"))
assert CASES, "the distributed cases were not found"


@pytest.mark.parametrize("name", CASES)
def test_distributed_case_through_engine(name, memory_runtime):
    case = load_case(name)
    check(case, run_in_engine(case, memory_runtime))


@pytest.mark.parametrize("name", CASES)
def test_distributed_case_through_cli(name, tmp_path):
    case = load_case(name)
    check(case, run_in_cli(case, tmp_path))


@pytest.mark.parametrize("name", CASES)
def test_distributed_case_through_server_with_the_official_sdks(name, server, fnf):
    from mns.account import Account

    from tests.api.fixtures import KEY_ID, SECRET

    case = load_case(name)
    account = Account(f"http://{server.endpoint}", KEY_ID, SECRET)
    check(case, run_in_server(case, fnf, account, server.functions_dir))


def test_children_see_their_item_and_a_copy_of_the_globals(memory_runtime):
    runtime = memory_runtime()
    runtime.register_flow("ctx", """Type: StateMachine
SpecVersion: v1
Name: ctx
StartAt: Setup
States:
  - Type: Pass
    Name: Setup
    GlobalConstructor:
      unit: kg
    Next: Each
  - Type: Map
    Name: Each
    ProcessorConfig: {Mode: Distributed}
    ItemsPath: $Input.items
    ItemConstructor:
      n.$: $Item
    Processor:
      StartAt: Look
      States:
        - Type: Pass
          Name: Look
          GlobalConstructor:
            unit: changed-in-child
          OutputConstructor:
            index.$: $Context.Map.Item.Index
            value.$: $Context.Map.Item.Value.n
            run.$: length($Context.Map.RunName)
          End: true
    OutputConstructor:
      items.$: $Output.Items
      unit.$: $Global.unit
    End: true
""")
    row = runtime.wait(runtime.start_execution("ctx", {"items": [7, 8]}).id, 30)
    assert row.status == "Succeeded", row
    assert row.output == {"items": [{"index": 0, "value": 7, "run": 32}, {"index": 1, "value": 8, "run": 32}],
                          "unit": "kg"}
