"""Regressions for the language defects of issue 20 §4, in both dialects where the construct exists:
GlobalConstructor on every state type, a dynamic MaxConcurrency on an inline Map, $Context.Map inside
nested scopes of a Map item, and the two spellings of the timeout error."""

from __future__ import annotations

import pytest

from stateway.engine._errors import matches_error
from stateway.fdl import FlowDefinitionError, load_flow


def _flow(states: str, name: str = "f") -> str:
    return f"Type: StateMachine\nName: {name}\nSpecVersion: v1\n{states}"


# -- GlobalConstructor ---------------------------------------------------------------------------------
GLOBALS_EVERYWHERE = _flow("""StartAt: Route
States:
  - Type: Choice
    Name: Route
    GlobalConstructor:
      routed.$: $Input.n
      seenGlobal.$: $Global
    Branches:
      - Condition: $Input.n > 0
        Next: Both
    Default: Both
  - Type: Parallel
    Name: Both
    Branches:
      - StartAt: Ok
        States:
          - Type: Succeed
            Name: Ok
            GlobalConstructor:
              fromSucceed.$: $Output.n
              before.$: $Global.routed
            OutputConstructor:
              globalsSeen.$: $Global
      - StartAt: Last
        States:
          - Type: Succeed
            Name: Last
    Next: Read
  - Type: Pass
    Name: Read
    OutputConstructor:
      g.$: $Global
      branch0.$: $Input.Branch0
    End: true
""")


def test_global_constructor_applies_on_choice_and_succeed(stateway):
    stateway.register(GLOBALS_EVERYWHERE)
    result = stateway.run("f", {"n": 3})
    assert result.status == "Succeeded", (result.error, result.cause)
    # the Choice's constructor saw $Global before itself; the Succeed's OutputConstructor too
    assert result.output["g"] == {"routed": 3, "seenGlobal": {}, "fromSucceed": 3, "before": 3}
    assert result.output["branch0"] == {"globalsSeen": {"routed": 3, "seenGlobal": {}}}


def test_global_constructor_on_a_top_level_succeed_is_applied_before_the_end(stateway):
    stateway.register(_flow("""StartAt: Done
States:
  - Type: Succeed
    Name: Done
    GlobalConstructor:
      k.$: $Input.v
    OutputConstructor:
      before.$: $Global
"""))
    result = stateway.run("f", {"v": 1})
    assert result.output == {"before": {}}
    assert result.status == "Succeeded"


def test_global_constructor_on_a_caught_fail_is_seen_after_the_catch(stateway):
    stateway.register(_flow("""StartAt: Try
States:
  - Type: Parallel
    Name: Try
    Branches:
      - StartAt: Boom
        States:
          - Type: Fail
            Name: Boom
            Code: My.Error
            GlobalConstructor:
              failedWith.$: $Input.v
    Catch:
      - Errors: [My.Error]
        Next: After
    Next: After
  - Type: Pass
    Name: After
    OutputConstructor:
      g.$: $Global
    End: true
"""))
    result = stateway.run("f", {"v": "x"})
    assert (result.status, result.output) == ("Succeeded", {"g": {"failedWith": "x"}})


def test_a_failing_global_constructor_on_a_choice_fails_the_choice(stateway):
    stateway.register(_flow("""StartAt: Route
States:
  - Type: Choice
    Name: Route
    GlobalConstructor:
      k.$: length($Input.n)
    Branches:
      - Condition: $Input.n > 0
        Next: Done
    Default: Done
  - Type: Succeed
    Name: Done
"""))
    result = stateway.run("f", {"n": 3})
    assert result.status == "Failed" and result.error == "FnF.InvalidArgument"
    assert "GlobalConstructor" in result.cause


# -- MaxConcurrency.$ on an inline Map -------------------------------------------------------------------
def _map_flow(concurrency: str) -> str:
    return _flow(f"""StartAt: Each
States:
  - Type: Map
    Name: Each
    ItemsPath: $Input.items
    {concurrency}
    Processor:
      StartAt: Nap
      States:
        - Type: Wait
          Name: Nap
          Seconds: 2
          End: true
    End: true
""")


@pytest.mark.parametrize("spelling", ["MaxConcurrency.$", "MaxConcuccency.$"])
@pytest.mark.parametrize("given, seconds", [(1, 6), (2, 4), (0, 2), (5, 2)])
def test_max_concurrency_from_an_expression_bounds_an_inline_map(stateway, given, seconds, spelling):
    stateway.register(_map_flow(f"{spelling}: $Input.c"))
    result = stateway.run("f", {"items": [{}, {}, {}], "c": given})
    assert result.status == "Succeeded", (result.error, result.cause)
    assert result.duration == seconds


@pytest.mark.parametrize("bad", [-1, "two", 1.5, None, True])
def test_a_bad_dynamic_max_concurrency_fails_the_map(stateway, bad):
    stateway.register(_map_flow("MaxConcurrency.$: $Input.c"))
    result = stateway.run("f", {"items": [{}, {}, {}], "c": bad})
    assert (result.status, result.error) == ("Failed", "FnF.InvalidArgument")
    assert "MaxConcurrency.$" in result.cause


def test_both_max_concurrency_spellings_at_once_are_refused():
    with pytest.raises(FlowDefinitionError, match="either 'MaxConcurrency' or 'MaxConcurrency.\\$'"):
        load_flow(_map_flow("MaxConcurrency: 1\n    MaxConcurrency.$: $Input.c"))


def test_tolerated_failure_expressions_need_distributed_mode():
    with pytest.raises(FlowDefinitionError, match="ToleratedFailureCount.\\$' needs 'ProcessorConfig'"):
        load_flow(_map_flow("ToleratedFailureCount.$: $Input.c"))


# -- $Context.Map in nested scopes of an item --------------------------------------------------------------
CONTEXT_MAP = _flow("""StartAt: Each
States:
  - Type: Map
    Name: Each
    ItemsPath: $Input.items
    Processor:
      StartAt: Fan
      States:
        - Type: Parallel
          Name: Fan
          Branches:
            - StartAt: Inner
              States:
                - Type: Parallel
                  Name: Inner
                  End: true
                  Branches:
                    - StartAt: Deep
                      States:
                        - Type: Pass
                          Name: Deep
                          End: true
                          OutputConstructor:
                            item.$: $Context.Map.Item
          OutputConstructor:
            deep.$: $Output.Branch0.Branch0.item
            own.$: $Context.Map.Item.Index
          Next: Nested
        - Type: Map
          Name: Nested
          ItemsPath: $Context.Map.Item.Value.sub
          ItemConstructor:
            outer.$: $Input.own
          Processor:
            StartAt: Leaf
            States:
              - Type: Parallel
                Name: Leaf
                End: true
                Branches:
                  - StartAt: Read
                    States:
                      - Type: Pass
                        Name: Read
                        End: true
                        OutputConstructor:
                          inner.$: $Context.Map.Item
                          outer.$: $Input.outer
          OutputConstructor:
            deep.$: $Input.deep
            nested.$: $Output.Items
          End: true
    End: true
""")


def test_context_map_names_the_enclosing_item_inside_a_parallel(stateway):
    stateway.register(CONTEXT_MAP)
    result = stateway.run("f", {"items": [{"sub": ["a"]}, {"sub": ["b", "c"]}]})
    assert result.status == "Succeeded", (result.error, result.cause)
    first, second = result.output["Items"]
    assert first["deep"] == {"Index": 0, "Value": {"sub": ["a"]}}
    assert second["deep"] == {"Index": 1, "Value": {"sub": ["b", "c"]}}
    assert second["nested"] == [
        {"Branch0": {"inner": {"Index": 0, "Value": "b"}, "outer": 1}},
        {"Branch0": {"inner": {"Index": 1, "Value": "c"}, "outer": 1}},
    ]


def test_context_map_is_absent_outside_any_map(stateway):
    stateway.register(_flow("""StartAt: Fan
States:
  - Type: Parallel
    Name: Fan
    Branches:
      - StartAt: Read
        States:
          - Type: Pass
            Name: Read
            End: true
            OutputConstructor:
              m.$: $Context.Map
    End: true
"""))
    result = stateway.run("f", {})
    assert (result.status, result.output) == ("Succeeded", {"Branch0": {"m": None}})


# -- FnF.Timeout and FnF.TaskTimeout ------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", ["FnF.Timeout", "FnF.TaskTimeout"])
@pytest.mark.parametrize("error", ["FnF.Timeout", "FnF.TaskTimeout"])
def test_either_timeout_spelling_matches_either(pattern, error):
    assert matches_error((pattern,), error)
    assert not matches_error((pattern,), "FnF.TaskCancelled")


V1_PARENT = """version: v1
type: flow
steps:
  - type: task
    name: Child
    resourceArn: acs:fnf:::flow/child
    pattern: sync
    catch:
      - errors: [{pattern}]
        goto: Caught
  - type: succeed
    name: Done
  - type: pass
    name: Caught
    outputMappings:
      - target: caught
        source: true
"""
V1_CHILD = """version: v1
type: flow
steps:
  - type: fail
    name: Boom
    error: {error}
    cause: slow
"""
NEW_PARENT = _flow("""StartAt: Child
States:
  - Type: Task
    Name: Child
    Action: FNF:StartExecution
    TaskMode: WaitForSystemCallback
    Parameters:
      resourceArn: acs:fnf:::flow/child
    Catch:
      - Errors: [{pattern}]
        Next: Caught
    Next: Done
  - Type: Succeed
    Name: Done
  - Type: Pass
    Name: Caught
    OutputConstructor:
      caught: true
    End: true
""", "parent")


@pytest.mark.parametrize("error", ["FnF.TaskTimeout", "FnF.Timeout"])
@pytest.mark.parametrize("pattern", ["FnF.Timeout", "FnF.TaskTimeout"])
@pytest.mark.parametrize("dialect", ["v1", "new"])
def test_a_catch_takes_a_childs_timeout_under_either_name(stateway, dialect, pattern, error):
    stateway.register(V1_CHILD.format(error=error), name="child")
    if dialect == "v1":
        stateway.register(V1_PARENT.format(pattern=pattern), name="parent")
    else:
        stateway.register(NEW_PARENT.format(pattern=pattern))
    result = stateway.run("parent", {})
    assert result.status == "Succeeded", (result.error, result.cause)
    assert result.output.get("caught") is True


# -- Wait until an instant (what the older dialect's timestamp converts to) ------------------------------------
def _wait_flow(field: str) -> str:
    return _flow(f"""StartAt: Until
States:
  - Type: Wait
    Name: Until
    {field}
    End: true
""")


def test_a_wait_until_an_instant_waits_the_seconds_left(stateway):
    from stateway.testing import DEFAULT_START
    from stateway.timefmt import iso

    stateway.register(_wait_flow("Timestamp.$: $Input.at"))
    assert stateway.run("f", {"at": iso(DEFAULT_START + 90)}).duration == 90
    assert stateway.run("f", {"at": "2000-01-01T00:00:00Z"}).duration == 0
    for bad in ("soon", 5, None):
        result = stateway.run("f", {"at": bad})
        assert (result.status, result.error) == ("Failed", "FnF.InvalidArgument") and "Timestamp.$" in result.cause


@pytest.mark.parametrize("fields, says", [
    ("Timestamp: 'tomorrow'", "expected an RFC 3339 instant"),
    ("Seconds: 1\n    Timestamp: '2026-01-01T00:00:00Z'", "exactly one of 'Seconds', 'Seconds.$', 'Timestamp'"),
])
def test_a_wait_timestamp_is_checked_when_the_flow_is_loaded(fields, says):
    import re

    with pytest.raises(FlowDefinitionError, match=re.escape(says)):
        load_flow(_wait_flow(fields))
