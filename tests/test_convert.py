"""`stateway convert`: older dialect → newer dialect. Every older-dialect case runs again as its
conversion, through the engine, `stateway run --json` and `stateway serve`, with the same result."""

from __future__ import annotations

import pytest

from stateway.fdl import load_flow
from stateway.fdl._convert import convert_flow
from tests.conformance.harness import case_names, check, flow_name, load_case, run_in_cli, run_in_engine, run_in_server

CASES = case_names("v1")


def converted(name: str) -> dict:
    """The case with its flow and children replaced by their conversions."""
    case = load_case(name)
    result = convert_flow(load_flow(case["flow"]), flow_name(case))
    out = {**case, "flow": result.text}
    out["children"] = {child: convert_flow(load_flow(source), child).text
                       for child, source in (case.get("children") or {}).items()}
    assert load_flow(out["flow"]).v1 is None  # a valid flow in the newer dialect
    return out


@pytest.mark.parametrize("name", CASES)
def test_conversion_through_engine(name, memory_runtime):
    case = converted(name)
    check(case, run_in_engine(case, memory_runtime))


@pytest.mark.parametrize("name", CASES)
def test_conversion_through_cli(name, tmp_path):
    case = converted(name)
    check(case, run_in_cli(case, tmp_path))


@pytest.mark.parametrize("name", CASES)
def test_conversion_through_server_with_the_official_sdks(name, server, fnf):
    from mns.account import Account

    from tests.api.fixtures import KEY_ID, SECRET

    case = converted(name)
    account = Account(f"http://{server.endpoint}", KEY_ID, SECRET)
    check(case, run_in_server(case, fnf, account, server.functions_dir))


# -- parity beyond the cases: nesting, stops inside options, mappings everywhere ---------------------
NESTED = """version: v1
type: flow
inputMappings:
  - target: n
    source: $input.start
  - target: tag
    source: fixed
steps:
  - type: pass
    name: Seed
    outputMappings:
      - target: count
        source: $input.n
  - type: choice
    name: Outer
    inputMappings:
      - target: count
        source: $local.count
    choices:
      - condition: $.count > 1
        steps:
          - type: pass
            name: A
            outputMappings:
              - target: a
                source: $input.count
          - type: choice
            name: Inner
            choices:
              - condition: $.count > 5
                steps:
                  - type: pass
                    name: Big
                    outputMappings:
                      - target: big
                        source: true
                  - type: succeed
                    name: StopAll
            default:
              steps:
                - type: pass
                  name: Small
                  outputMappings:
                    - target: small
                      source: $input.count
    outputMappings:
      - target: outerLocal
        source: $local
      - target: seen
        source: $input.count
  - type: wait
    name: Breath
    duration: 0
  - type: pass
    name: After
    outputMappings:
      - target: after
        source: $local.outerLocal
outputMappings:
  - target: result
    source: $local
  - target: input
    source: $input
"""

FANOUT = """version: v1
type: flow
steps:
  - type: choice
    name: Pick
    choices:
      - condition: '!($.skip) && $.items != null'
        steps:
          - type: foreach
            name: Each
            iterationMapping:
              collection: $input.items
              item: it
              index: i
            steps:
              - type: parallel
                name: Both
                branches:
                  - steps:
                      - type: choice
                        name: Odd
                        choices:
                          - condition: $.it.v > 1
                            steps:
                              - type: pass
                                name: Mark
                                outputMappings:
                                  - target: big
                                    source: $input.it.v
                                end: true
                      - type: pass
                        name: NotReached
                        outputMappings:
                          - target: small
                            source: true
                  - steps:
                      - type: pass
                        name: Copy
                        outputMappings:
                          - target: my key
                            source: $input.i
                outputMappings:
                  - target: pair
                    source: $local
            outputMappings:
              - target: all
                source: $local[*].pair
              - target: values
                source: $input.items.*.v
              - target: second
                source: $local[1].pair[1]["my key"]
        goto: Tail
    default:
      goto: Tail
  - type: pass
    name: Skipped
    outputMappings:
      - target: skipped
        source: true
  - type: pass
    name: Tail
    outputMappings:
      - target: flow
        source: $context.flow.name
      - target: merged
        source: $
"""


@pytest.mark.parametrize("source, inputs", [
    (NESTED, [{"start": 0}, {"start": 3}, {"start": 9}]),
    (FANOUT, [{"items": [{"v": 1}, {"v": 2}, {"v": 3}]}, {"skip": True, "items": []}, {}]),
])
def test_conversion_gives_the_same_output(source, inputs, memory_runtime):
    runtime = memory_runtime()
    runtime.register_flow("original", source)
    conversion = convert_flow(load_flow(source), "converted")
    runtime.register_flow("converted", conversion.text.replace("$Context.Flow.Name", '"original"'))
    assert conversion.notes == []
    for number, given in enumerate(inputs):
        ends = []
        for flow in ("original", "converted"):
            row = runtime.wait(runtime.start_execution(flow, given, f"e{number}").id, 30)
            ends.append((row.status, row.output, row.error))
        assert ends[0] == ends[1], (given, ends, conversion.text)
        assert ends[0][0] == "Succeeded", ends


def test_convert_command_writes_the_flow_and_warns_on_stderr(tmp_path):
    from click.testing import CliRunner

    from stateway.cli._main import cli

    old = tmp_path / "approve.yaml"
    old.write_text("version: v1\ntype: flow\nsteps:\n  - type: pass\n    name: Peek\n    outputMappings:\n"
                   "      - target: e\n        source: $context.execution\n")
    result = CliRunner().invoke(cli, ["convert", str(old), "-o", str(tmp_path / "new.yaml")])
    assert result.exit_code == 0, result.output
    assert "warning: no exact equivalent" in result.stderr
    text = (tmp_path / "new.yaml").read_text()
    assert "Name: approve" in text and "# differs: $context.execution: only" in text
    assert load_flow(text).root.states["Peek"].type == "Pass"
    printed = CliRunner().invoke(cli, ["convert", str(old)])
    assert printed.exit_code == 0 and printed.stdout == text
    old.write_text("version: v1\ntype: flow\nsteps:\n  - type: wiat\n    name: W\n")
    bad = CliRunner().invoke(cli, ["convert", str(old)])
    assert bad.exit_code == 1 and f"{old}:4:5: error" in bad.stderr and "did you mean 'wait'" in bad.stderr


def test_a_conversion_over_the_definition_limit_says_so():
    from tests.shared_flows import v1_big_flow

    result = convert_flow(load_flow(v1_big_flow(500)), "big")
    from stateway.fdl._loader import MAX_DEFINITION_BYTES

    assert any(f"over the {MAX_DEFINITION_BYTES}-byte limit" in note for note in result.notes)
    assert "#  - the converted definition is" in result.text
