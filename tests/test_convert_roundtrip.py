"""`stateway convert` keeps what a flow does: an older-dialect flow and its conversion give the same
status, output and error on the same input, or `convert` warns about that flow (issue 20 §4).

The six differences the semantic hunt found each have a test; a property test runs every older-dialect
conformance case and generated flows both ways. Flows run under ``stateway.testing`` (virtual time,
functions in-process), so a wait of a day costs nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stateway.fdl import load_flow
from stateway.fdl._convert import convert_flow
from stateway.testing import Harness


def ending(harness: Harness, flow: str, given: Any, name: str) -> tuple[Any, ...]:
    result = harness.run(flow, given, name=name)
    return result.status, result.output, result.error


def both_ways(source: str, inputs: list[Any], functions: dict[str, Any] | None = None,
              children: dict[str, str] | None = None) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    """(endings of the original, endings of the conversion, convert's notes) for each input."""
    conversion = convert_flow(load_flow(source), "converted")
    originals, converted = [], []
    for number, given in enumerate(inputs):
        for text, out in ((source, originals), (conversion.text, converted)):
            with Harness() as harness:
                for child, child_source in (children or {}).items():
                    harness.register(child_source, name=child)
                for resource, handler in (functions or {}).items():
                    harness.mock_function(resource, handler)
                # the conversion names its flow "converted"; the original reads $context.flow.name as "original"
                harness.register(text.replace("Name: converted", "Name: original"), name="original")
                out.append(ending(harness, "original", given, f"e{number}"))
    return originals, converted, conversion.notes


def assert_same(source: str, inputs: list[Any], functions: dict[str, Any] | None = None,
                children: dict[str, str] | None = None) -> list[tuple[Any, ...]]:
    originals, converted, notes = both_ways(source, inputs, functions, children)
    assert notes == [], notes
    for given, a, b in zip(inputs, originals, converted, strict=True):
        assert a == b, (given, a, b, convert_flow(load_flow(source), "converted").text)
    return originals


def v1(steps: str) -> str:
    return "version: v1\ntype: flow\nsteps:\n" + steps


# -- 1. a task whose function returns nothing ---------------------------------------------------------------
def test_a_function_returning_none_gives_an_empty_local():
    source = v1("""  - type: task
    name: Nothing
    resourceArn: acs:fc:::functions/none
  - type: task
    name: Mapped
    resourceArn: acs:fc:::functions/none
    outputMappings:
      - target: seen
        source: $local
  - type: task
    name: Text
    resourceArn: acs:fc:::functions/text
    outputMappings:
      - target: decoded
        source: $local
""")
    functions = {"functions/none": lambda event, context: None,
                 "functions/text": lambda event, context: json.dumps({"k": [1]})}
    endings = assert_same(source, [{}, {"a": 1}], functions)
    assert endings[1] == ("Succeeded", {"seen": {}, "decoded": {"k": [1]}}, None)


def test_a_function_returning_empty_text_or_a_list_behaves_the_same():
    source = v1("""  - type: task
    name: Call
    resourceArn: acs:fc:::functions/f
""")
    for value, status in (("", "Succeeded"), ("  ", "Succeeded"), ([1, 2], "Failed"), ("plain", "Failed")):
        endings = assert_same(source, [{}], {"functions/f": lambda event, context, v=value: v})
        assert endings[0][0] == status, (value, endings)


# -- 2. a bare path as a condition ----------------------------------------------------------------------------
@pytest.mark.parametrize("condition", ["$.z", "!$.z", "$.z && true", "$.z || $.w", "($.z)", "!($.z || false)"])
def test_a_condition_that_is_not_a_boolean_fails_as_in_the_original(condition):
    source = v1(f"""  - type: choice
    name: Route
    choices:
      - condition: '{condition}'
        goto: Took
    default:
      goto: Skipped
  - type: pass
    name: Took
    outputMappings:
      - target: took
        source: 'yes'
    end: true
  - type: pass
    name: Skipped
    outputMappings:
      - target: took
        source: 'no'
""")
    endings = assert_same(source, [{"z": 1}, {"z": "x"}, {"z": None}, {}, {"z": True}, {"z": False},
                                   {"z": False, "w": 3}, {"z": True, "w": 3}, {"z": [], "w": True}])
    assert endings[0][:3:2] == ("Failed", "FnF.InvalidArgument")


# -- 3. $context.task.* outside a task's request ---------------------------------------------------------------
def test_context_task_fields_are_null_outside_the_request():
    source = v1("""  - type: task
    name: Flaky
    resourceArn: acs:fc:::functions/flaky
    inputMappings:
      - target: tries
        source: $context.task.retryCount
      - target: hasToken
        source: $context.task.token
    retry:
      - errors: [FC.Unknown]
        intervalSeconds: 1
        maxAttempts: 3
    outputMappings:
      - target: retryAfter
        source: $context.task.retryCount
      - target: tokenAfter
        source: $context.task.token
      - target: sent
        source: $local.sent
  - type: pass
    name: After
    outputMappings:
      - target: passRetry
        source: $context.task.retryCount
""")
    calls: list[int] = []

    def flaky(event: Any, context: Any) -> Any:
        calls.append(1)
        if len(calls) % 3:
            raise RuntimeError("not yet")
        return {"sent": event["tries"]}

    endings = assert_same(source, [{}], {"functions/flaky": flaky})
    assert endings[0][1] == {"retryAfter": None, "tokenAfter": None, "sent": 2, "passRetry": None}


# -- 4. the older dialect's 32 KiB rule ---------------------------------------------------------------------------
def test_the_32_kib_step_rule_holds_after_conversion():
    source = v1("""  - type: task
    name: Big
    resourceArn: acs:fc:::functions/big
  - type: pass
    name: Copy
    outputMappings:
      - target: again
        source: $input.blob
""")
    functions = {"functions/big": lambda event, context: {"blob": "x" * event["n"]}}
    endings = assert_same(source, [{"n": 100}, {"n": 12_000}, {"n": 17_000}], functions)
    assert [e[0] for e in endings] == ["Succeeded", "Succeeded", "Failed"]
    assert endings[2][2] == "FnF.DataLimitExceeded"


# -- 5. $context.step.name of a step whose name repeats inside a choice option ---------------------------------
def test_step_names_in_an_option_keep_their_own_name():
    source = v1("""  - type: choice
    name: C
    choices:
      - condition: $.go == true
        steps:
          - type: pass
            name: A
            outputMappings:
              - target: inner
                source: $context.step.name
  - type: choice
    name: D
    choices:
      - condition: $.go == true
        goto: A
    default:
      goto: A
    outputMappings:
      - target: choice
        source: $context.step.name
  - type: pass
    name: A
    outputMappings:
      - target: outer
        source: $context.step.name
outputMappings:
  - target: all
    source: $local
  - target: flowLevel
    source: $context.step.name
""")
    endings = assert_same(source, [{"go": True}, {"go": False}])
    assert endings[0][1] == {"all": {"inner": "A", "choice": "D", "outer": "A"}, "flowLevel": None}


# -- 6. wait until a timestamp -----------------------------------------------------------------------------------
def test_a_wait_until_a_timestamp_waits_or_fails_as_the_original():
    source = v1("""  - type: wait
    name: Until
    timestamp: $.ts
  - type: pass
    name: After
    outputMappings:
      - target: done
        source: true
""")
    from stateway.testing import DEFAULT_START
    from stateway.timefmt import iso

    later = iso(DEFAULT_START + 86400)
    inputs = [{"ts": later}, {"ts": "2000-01-01T00:00:00Z"}, {"ts": "tomorrow"}, {"ts": 5}, {}]
    originals, converted, notes = both_ways(source, inputs)
    assert notes == []
    assert originals == converted
    assert [e[0] for e in originals] == ["Succeeded", "Succeeded", "Failed", "Failed", "Failed"]
    with Harness() as harness:
        harness.register(convert_flow(load_flow(source), "c").text)
        assert harness.run("c", {"ts": later}).duration == 86400


def test_a_wait_until_a_fixed_instant_converts_exactly():
    source = v1("""  - type: wait
    name: Until
    timestamp: '2100-01-01T00:00:00Z'
""")
    conversion = convert_flow(load_flow(source), "c")
    assert conversion.notes == []
    assert load_flow(conversion.text).root.states["Until"].timestamp == 4102444800
