import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stateway.fdl import FlowDefinitionError, load_flow, validate_flow
from stateway.runtime import IntegrationRegistry

ACTIONS = IntegrationRegistry.default().modes()

BROKEN = """Type: StateMachine
SpecVersion: v1
StartAt: A
States:
  - Type: Pass
    Name: A
    Nxt: B
  - Type: Task
    Name: B
    Action: MNS:SendMessage
    TaskMode: WaitForSystemCallback
    Retry:
      - Errors: 5
    End: true
"""


def test_every_problem_is_located_with_path_line_and_suggestion():
    problems = {(p.line, p.path, p.severity) for p in validate_flow(BROKEN, ACTIONS)}
    messages = [p.format("f.yaml") for p in validate_flow(BROKEN, ACTIONS)]
    assert (7, 'States[0] "A" > Nxt', "error") in problems
    assert any("did you mean 'Next'" in m for m in messages)
    assert any("f.yaml:11:5: error: States[1] \"B\" > TaskMode: action 'MNS:SendMessage' does not support "
               "WaitForSystemCallback; it supports RequestComplete, WaitForCustomCallback" in m for m in messages)
    assert any('States[1] "B" > Retry[0] > Errors' in m for m in messages)


def test_warnings_do_not_block():
    flow = load_flow("""Type: StateMachine
SpecVersion: v1
StartAt: A
States:
  - {Type: Pass, Name: A, End: true}
  - {Type: Pass, Name: Lost, End: true}
""")
    assert [w.path for w in flow.warnings] == ['States[1] "Lost"']


def test_unknown_action_lists_known_ones_and_double_colon_is_accepted():
    base = "Type: StateMachine\nSpecVersion: v1\nStartAt: T\nStates:\n  - {Type: Task, Name: T, Action: %s, End: true}\n"
    assert load_flow(base % "FC::InvokeFunction", ACTIONS).root.states["T"].action == "FC:InvokeFunction"
    problems = validate_flow(base % "FC:Invoke", ACTIONS)
    assert "known actions" in problems[0].message and "did you mean 'FC:InvokeFunction'" in problems[0].message


def test_yaml_syntax_error_has_a_line():
    problems = validate_flow("Type: StateMachine\nStates: [\n")
    assert problems[0].severity == "error" and problems[0].line >= 2


def test_distributed_fields_on_an_inline_map_are_a_clear_error():
    src = """Type: StateMachine
SpecVersion: v1
StartAt: M
States:
  - Type: Map
    Name: M
    ItemsPath: $Input.x
    ItemReader: {}
    Processor: {StartAt: P, States: [{Type: Pass, Name: P, End: true}]}
    End: true
"""
    problem = validate_flow(src)[0]
    assert "needs 'ProcessorConfig' (distributed mode)" in problem.message and problem.path.endswith("ItemReader")


def test_both_max_concurrency_spellings():
    src = """Type: StateMachine
SpecVersion: v1
StartAt: M
States:
  - Type: Map
    Name: M
    ItemsPath: $Input.x
    MaxConcuccency: 4
    Processor: {StartAt: P, States: [{Type: Pass, Name: P, End: true}]}
    End: true
"""
    assert load_flow(src).root.states["M"].max_concurrency == 4


@settings(max_examples=150)
@given(st.text(max_size=200))
def test_any_text_loads_or_raises_flow_definition_error(text):
    try:
        load_flow(text, ACTIONS)
    except FlowDefinitionError:
        pass


@settings(max_examples=150)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(
                        st.sampled_from(["Type", "Name", "StartAt", "States", "Next", "End", "Branches",
                                         "Processor", "ItemsPath", "Retry", "Catch", "Errors", "Seconds"]), c,
                        max_size=5), max_leaves=20))
@example({"Name": "0", "Type": []})  # found by Hypothesis: an unhashable Type crashed the loader
@example({"Name": "0", "Type": {}})
@example({"Name": "A", "Type": "Pass", "Next": [], "End": {}})
@example({"Name": "A", "Type": "Choice", "Branches": [{"Next": {}, "Condition": []}], "Default": []})
def test_structured_garbage_loads_or_raises_flow_definition_error(doc):
    import json

    source = "Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates: " + json.dumps([doc])
    try:
        load_flow(source, ACTIONS)
    except FlowDefinitionError:
        pass


def test_an_unhashable_type_is_a_located_error_not_a_crash():
    source = "Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates:\n  - {Name: A, Type: []}\n"
    with pytest.raises(FlowDefinitionError, match="unknown state type a list"):
        load_flow(source)


def test_variables_are_case_sensitive_with_a_suggestion():
    source = """Type: StateMachine
SpecVersion: v1
StartAt: A
States:
  - Type: Pass
    Name: A
    InputConstructor:
      x.$: $input.x
      y.$: $Foo.y
    End: true
"""
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(source)
    text = str(caught.value)
    assert "unknown variable $input in '$input.x'; did you mean $Input?" in text and ":8:" in text
    assert "unknown variable $Foo" in text and "variables are $Input, $Output" in text


def test_a_choice_has_no_output_constructor():
    source = """Type: StateMachine
SpecVersion: v1
StartAt: C
States:
  - Type: Choice
    Name: C
    OutputConstructor: {a: 1}
    Branches:
      - {Condition: "true", Next: D}
    Default: D
  - {Type: Succeed, Name: D}
"""
    with pytest.raises(FlowDefinitionError, match="a Choice state has no OutputConstructor"):
        load_flow(source)


@pytest.mark.parametrize("template, says", [
    ("{a: .nan}", "not a JSON number"),
    ("{a: .inf}", "not a JSON number"),
    ('{a.$: "1e400"}', "too large for a double"),
    ('{a: "\\ud800"}', "lone surrogate"),
    ("{a.$: '\"\\ud800\"'}", "lone surrogate"),
])
def test_templates_hold_only_json(template, says):
    source = ("Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates:\n"
              f"  - {{Type: Pass, Name: A, End: true, InputConstructor: {template}}}\n")
    with pytest.raises(FlowDefinitionError, match=says):
        load_flow(source)


def test_a_definition_over_the_size_limit_is_refused_before_parsing():
    from stateway.fdl._loader import MAX_DEFINITION_BYTES

    source = "Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates:\n  - {Type: Succeed, Name: A}\n#"
    source += "x" * MAX_DEFINITION_BYTES
    with pytest.raises(FlowDefinitionError, match=f"over {MAX_DEFINITION_BYTES} bytes"):
        load_flow(source)


def test_deep_nesting_is_refused_fast():
    import time

    source = "Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates: " + "[" * 30_000 + "]" * 30_000 + "\n"
    began = time.process_time()
    with pytest.raises(FlowDefinitionError, match="nests more than 200 deep"):
        load_flow(source)
    # a hang detector only; the speed is `make bench`'s limits.deep_nesting_cpu_s (target 0.2 s, measured ~2 ms)
    assert time.process_time() - began < 2.0


def test_a_large_definition_under_the_limit_validates():
    import time

    from tests.shared_flows import large_definition

    source = large_definition()
    began = time.process_time()
    flow = load_flow(source)
    assert len(flow.root.states) == source.count("Type: Pass") + 1
    # a hang detector only (20x the measured ~0.8 s); the speed is `make bench`'s limits.large_definition_cpu_s
    assert time.process_time() - began < 20.0
