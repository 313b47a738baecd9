from hypothesis import given, settings
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
def test_structured_garbage_loads_or_raises_flow_definition_error(doc):
    import json

    source = "Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates: " + json.dumps([doc])
    try:
        load_flow(source, ACTIONS)
    except FlowDefinitionError:
        pass
