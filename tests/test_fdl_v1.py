"""The older dialect (version: v1, type: flow): validation, fuzzing of the loader, load speed, the
legacy SDK, stop/cancel of a v1 execution."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stateway.fdl import FlowDefinitionError, load_flow, validate_flow
from stateway.runtime import IntegrationRegistry
from tests.shared_flows import v1_big_flow

ACTIONS = IntegrationRegistry.default().modes()


def problems(source: str) -> list[str]:
    return [p.format("f.yaml") for p in validate_flow(source, ACTIONS)]


def errors(source: str) -> list[str]:
    return [p.format("f.yaml") for p in validate_flow(source, ACTIONS) if p.severity == "error"]


BROKEN = """version: v1
type: flow
steps:
  - type: tsak
    name: A
  - type: task
    name: B
    resourceArn: acs:mns:::/queues/q/messages
    pattern: sync
    serviceParams:
      MessageBody: $
  - type: choice
    name: C
    choices:
      - condition: $local.x == 1
        goto: Bb
      - condition: $.a ==
  - type: pass
    name: D
    retry:
      - errors: [FnF.ALL]
    inputMappings:
      - target: x
      - source: $input.y
        target: y
      - target: z
        source: $input..deep
"""


def test_every_error_is_located_with_step_path_and_suggestion():
    found = errors(BROKEN)
    text = "\n".join(found)
    assert 'f.yaml:4:5: error: steps[0] "A" > type: unknown step type \'tsak\'' in text
    assert "did you mean 'task'?" in text
    assert 'steps[1] "B" > pattern: acs:mns:::/queues/q/messages does not support pattern \'sync\'' in text
    assert 'steps[2] "C" > choices[0] > condition: $local is not allowed in a condition' in text
    assert "f.yaml:16:9: error: steps[2] \"C\" > choices[0] > goto: no step named 'Bb' in the same steps list; " \
           "did you mean 'B'?" in text
    assert len(found) == 8, found
    assert 'steps[2] "C" > choices[1] > condition: unexpected end of the condition' in text
    assert 'steps[3] "D" > retry: \'retry\' is allowed on task steps only' in text
    assert "steps[3] \"D\" > inputMappings[0]: missing required field 'source'" in text
    assert "recursive descent '..' is not supported" in text


def test_warnings_unknown_keys_missing_callback_timeout_unreachable():
    flow = load_flow("""version: v1
type: flow
steps:
  - type: task
    name: Ask
    resourceArn: acs:fc:::functions/ask
    pattern: waitForCallback
    inputMapping:
      - target: a
        source: $input.a
    end: true
  - type: pass
    name: Lost
""", ACTIONS)
    text = "\n".join(w.format("f.yaml") for w in flow.warnings)
    assert "f.yaml:8:5: warning: steps[0] \"Ask\" > inputMapping: unknown key 'inputMapping' for a task step " \
           "(ignored); did you mean 'inputMappings'?" in text
    assert "waitForCallback without 'timeoutSeconds'" in text
    assert "step 'Lost' cannot be reached" in text


@pytest.mark.parametrize("source, message", [
    ("Type: StateMachine\nversion: v1\ntype: flow\nsteps:\n  - {type: pass, name: a}\n",
     "this document mixes the two dialects"),
    ("type: flow\nsteps:\n  - {type: pass, name: a}\n", "missing required field 'version'"),
    ("version: v2\ntype: flow\nsteps:\n  - {type: pass, name: a}\n", "expected 'v1' (or 'v1beta1')"),
    ("version: v1\ntype: flows\nsteps:\n  - {type: pass, name: a}\n", "did you mean 'flow'?"),
    ("version: v1\ntype: flow\nsteps: []\n", "expected a non-empty list of steps"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: pass, name: a}\n  - {type: pass, name: a}\n",
     "duplicate step name 'a'"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: pass}\n", "missing required field 'name'"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: task, name: t, resourceArn: 'acs:mns:::/topics/t/messages'}\n",
     "unsupported resource"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: wait, name: w, duration: 1, timestamp: '2020-01-01T00:00:00Z'}\n",
     "exactly one of 'duration' and 'timestamp'"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: wait, name: w, duration: $local.x}\n", "$local is not allowed here"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: foreach, name: f, iterationMapping: {collection: $.x}, "
     "steps: [{type: pass, name: p}]}\n", "missing required field 'item'"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: parallel, name: p, branches: [{steps: []}]}\n",
     "expected a non-empty list of steps"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: task, name: t, resourceArn: 'acs:fc:::functions/f', "
     "catch: [{errors: [FnF.ALL]}]}\n", "missing required field 'goto'"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: task, name: t, resourceArn: 'acs:fc:::functions/f', "
     "retry: [{errors: [FnF.ALL], multiplier: 0.5}]}\n", "must be at least 1"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: choice, name: c, choices: [{condition: '$.a[?(@.b)]'}]}\n",
     "filters not supported"),
    ("version: v1\ntype: flow\nsteps:\n  - {type: pass, name: p, errorMappings: []}\n",
     "'errorMappings' is allowed on task steps only"),
])
def test_validation_errors(source, message):
    found = errors(source)
    assert any(message in e for e in found), found
    assert all(":0:0:" not in e for e in found), found


def test_parallel_has_at_most_100_branches():
    branches = "".join(f"      - steps: [{{type: pass, name: p{i}}}]\n" for i in range(101))
    found = errors(f"version: v1\ntype: flow\nsteps:\n  - type: parallel\n    name: P\n    branches:\n{branches}")
    assert any("at most 100 branches, got 101" in e for e in found)


def test_v1beta1_and_name_are_accepted_and_json_works():
    flow = load_flow(json.dumps({"version": "v1beta1", "type": "flow", "name": "named",
                                 "steps": [{"type": "pass", "name": "p"}]}), ACTIONS)
    assert flow.name == "named" and flow.v1 is not None and flow.root.start_at == "p"


# -- fuzzing: any document gives a flow or a located FlowDefinitionError --------------------------
_WORDS = ["task", "pass", "choice", "parallel", "foreach", "wait", "succeed", "fail", "flow", "v1", "a", "b",
          "$", "$.x", "$input.a", "$local", "$local[*].y", "$context.task.token", "$..x", "$.a[", "$.a[-1]",
          "acs:fc:::functions/f", "acs:fnf:::flow/c", "acs:mns:::/queues/q/messages", "sync", "waitForCallback",
          "requestResponse", "$.n < 3 && $.k == \"x\"", "!(", "FnF.ALL", "2020-01-01T00:00:00Z", ""]
_KEYS = ["type", "name", "steps", "end", "goto", "choices", "condition", "default", "branches", "iterationMapping",
         "collection", "item", "index", "duration", "timestamp", "resourceArn", "pattern", "inputMappings",
         "outputMappings", "errorMappings", "target", "source", "retry", "catch", "errors", "serviceParams",
         "timeoutSeconds", "maxAttempts", "intervalSeconds", "multiplier", "MessageBody", "Input", "error",
         "cause", "version", "States", "Type"]
_scalars = st.one_of(st.sampled_from(_WORDS), st.integers(-3, 200), st.booleans(), st.none(),
                     st.floats(allow_nan=False, allow_infinity=False, width=32))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=6)), max_leaves=30)
_steps = st.lists(st.dictionaries(st.sampled_from(_KEYS), _values, max_size=7).map(
    lambda d: {"type": "pass", "name": "s", **d}), max_size=5)
_documents = st.builds(lambda steps, extra: {"version": "v1", "type": "flow", "steps": steps, **extra},
                       _steps, st.dictionaries(st.sampled_from(_KEYS), _values, max_size=3))


@settings(max_examples=120, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(_documents)
def test_fuzz_any_document_gives_a_flow_or_located_errors(doc):
    import io

    from ruamel.yaml import YAML

    out = io.StringIO()
    YAML().dump(doc, out)
    source = out.getvalue()
    try:
        flow = load_flow(source, ACTIONS)
    except FlowDefinitionError as exc:
        assert exc.errors, source
        for problem in exc.errors:
            assert problem.line >= 1 and problem.column >= 1, (problem, source)
        return
    assert flow.root.start_at in flow.root.states
    # whatever loads also converts, and the conversion is a valid newer-dialect flow
    from stateway.fdl._convert import convert_flow

    converted = convert_flow(flow, "fuzzed")
    assert load_flow(converted.text, ACTIONS).v1 is None, converted.text


@settings(max_examples=100, derandomize=True, database=None, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_paths_and_conditions_never_raise_other_errors(text):
    for source in (f"version: v1\ntype: flow\nsteps:\n  - type: choice\n    name: c\n    choices:\n"
                   f"      - condition: {json.dumps(text)}\n",
                   f"version: v1\ntype: flow\nsteps:\n  - type: pass\n    name: p\n    outputMappings:\n"
                   f"      - target: t\n        source: {json.dumps('$' + text)}\n"):
        try:
            load_flow(source, ACTIONS)
        except FlowDefinitionError as exc:
            assert all(p.line >= 1 for p in exc.errors)


# -- speed -----------------------------------------------------------------------------------------
def test_loading_a_500_step_flow_finishes():
    source = v1_big_flow(500)  # ~45 KiB
    assert len(source) < 64 * 1024
    began = time.process_time()
    flow = load_flow(source, ACTIONS)
    seconds = time.process_time() - began
    assert len(flow.root.states) == 500
    # a hang detector only (20x the measured ~0.1 s); the speed is `make bench`'s limits.v1_500_steps_cpu_s
    assert seconds < 5.0, f"{seconds:.3f}s"


# -- the legacy SDK (aliyun-python-sdk-fnf), as its recorded CreateFlow --------------------------
def test_legacy_sdk_creates_and_runs_an_older_dialect_flow(server):
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkfnf.request.v20190315.CreateFlowRequest import CreateFlowRequest
    from aliyunsdkfnf.request.v20190315.DescribeExecutionRequest import DescribeExecutionRequest
    from aliyunsdkfnf.request.v20190315.StartExecutionRequest import StartExecutionRequest

    from tests.api.fixtures import KEY_ID, SECRET

    client = AcsClient(KEY_ID, SECRET, "cn-hangzhou")

    def call(request):
        request.set_endpoint(server.endpoint)
        request.set_protocol_type("http")
        return json.loads(client.do_action_with_exception(request))

    create = CreateFlowRequest()
    create.set_Name("old-flow")
    create.set_Definition("version: v1\ntype: flow\nsteps:\n  - type: pass\n    name: p\n"
                          "    outputMappings:\n      - target: greeting\n        source: $input.who\n")
    create.set_Description("legacy sdk flow")
    create.set_Type("FDL")
    create.set_RoleArn("acs:ram::1:role/x")
    create.set_ExecutionMode("Standard")
    assert call(create)["Name"] == "old-flow"
    start = StartExecutionRequest()
    start.set_FlowName("old-flow")
    start.set_ExecutionName("e1")
    start.set_Input('{"who": "world"}')
    call(start)
    status = DescribeExecutionRequest()
    status.set_FlowName("old-flow")
    status.set_ExecutionName("e1")
    deadline = time.monotonic() + 10
    body = call(status)
    while body["Status"] == "Running" and time.monotonic() < deadline:
        time.sleep(0.05)
        body = call(status)
    assert body["Status"] == "Succeeded" and json.loads(body["Output"]) == {"greeting": "world"}


def test_an_invalid_older_flow_is_refused_with_its_line(server, fnf):
    from alibabacloud_fnf20190315 import models as m
    from alibabacloud_tea_openapi.exceptions import ClientException

    with pytest.raises(ClientException) as info:
        fnf.create_flow(m.CreateFlowRequest(name="bad", definition="version: v1\ntype: flow\nsteps:\n"
                                            "  - type: pas\n    name: p\n", description="", type="FDL"))
    assert info.value.code.startswith("InvalidArgument") or "Invalid" in info.value.code
    assert "did you mean 'pass'" in info.value.message and ":4:" in info.value.message


# -- runtime: a stop cancels the open callback task of a v1 flow; history shows step names ------------
def test_stop_cancels_a_waiting_v1_task_and_history_names_steps(memory_runtime):
    runtime = memory_runtime({"ask": "def handler(event, context):\n    return {}\n"})
    runtime.register_flow("approve", """version: v1
type: flow
steps:
  - type: parallel
    name: Both
    branches:
      - steps:
          - type: task
            name: Ask
            resourceArn: acs:fc:::functions/ask
            pattern: waitForCallback
            timeoutSeconds: 60
            inputMappings:
              - target: token
                source: $context.task.token
      - steps:
          - type: wait
            name: Nap
            duration: 60
""")
    row = runtime.start_execution("approve", {}, "e1")
    deadline = time.monotonic() + 10
    while not runtime.store.open_tasks(row.id) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runtime.store.open_tasks(row.id)
    runtime.stop_execution(row.id, "Manual", "no longer needed")
    row = runtime.wait(row.id, 10)
    assert row.status == "Stopped"
    history = runtime.store.history(row.id, 0, 1000)
    assert any(e["Type"] == "TaskCancelRequested" and e["StepName"].endswith("Ask") for e in history)
    scheduled = [e for e in history if e["Type"] == "TaskScheduled"][0]
    assert scheduled["EventDetail"]["pattern"] == "waitForCallback"
    assert scheduled["EventDetail"]["resourceArn"] == "acs:fc:::functions/ask"
    assert json.loads(scheduled["EventDetail"]["parameters"])["body"]["token"].startswith("sw1.")
    assert not runtime.store.open_tasks(row.id)


def test_a_v1_execution_survives_a_restart_inside_a_choice_option(tmp_path):
    """The frames' scope input and $local are part of the stored state: a restart in the middle of
    a choice option, with a callback pending in a foreach, loses nothing."""
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "ask.py").write_text("def handler(event, context):\n    return {}\n")
    source = """version: v1
type: flow
steps:
  - type: pass
    name: Seed
    outputMappings:
      - target: seeded
        source: yes please
  - type: choice
    name: Route
    choices:
      - condition: $.go == true
        steps:
          - type: foreach
            name: Each
            iterationMapping:
              collection: $.items
              item: item
            steps:
              - type: task
                name: Ask
                resourceArn: acs:fc:::functions/ask
                pattern: waitForCallback
                timeoutSeconds: 60
                inputMappings:
                  - target: token
                    source: $context.task.token
            outputMappings:
              - target: answers
                source: $local[*].answer
"""
    db = str(tmp_path / "v1.db")
    first = Runtime(SQLiteStore(db), settings=Settings.from_config(functions_dir=str(functions))).start()
    first.register_flow("restart", source)
    row = first.start_execution("restart", {"go": True, "items": [1, 2]})
    deadline = time.monotonic() + 10
    while len(first.store.open_tasks(row.id)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    tokens = [t["token"] for t in first.store.open_tasks(row.id)]
    first.close()
    first.store.close()
    second = Runtime(SQLiteStore(db), settings=Settings.from_config(functions_dir=str(functions))).start()
    try:
        for i, token in enumerate(tokens):
            second.report_success(token, {"answer": f"a{i}"})
        ended = second.wait(row.id, 20)
        assert ended.status == "Succeeded", ended
        assert ended.output["seeded"] == "yes please"
        assert sorted(ended.output["answers"]) == ["a0", "a1"]
    finally:
        second.close()


def test_catch_names_the_functions_own_exception_class(memory_runtime):
    """fdl-v1.md §8.1: an errors entry equal to the class the function raised matches; the reported
    name stays FC.Unknown. The same holds for the flow's conversion."""
    from stateway.fdl._convert import convert_flow

    runtime = memory_runtime({"book": "class RoomUnavailable(Exception):\n    pass\n\n"
                                      "def handler(event, context):\n    raise RoomUnavailable('no room')\n"})
    source = """version: v1
type: flow
steps:
  - type: task
    name: Book
    resourceArn: acs:fc:::services/travel/functions/book
    errorMappings:
      - target: failed
        source: $local.error
    catch:
      - errors: [RoomUnavailable]
        goto: Abort
  - type: succeed
    name: Booked
  - type: pass
    name: Abort
    outputMappings:
      - target: aborted
        source: $input.failed
"""
    runtime.register_flow("saga", source)
    runtime.register_flow("saga-new", convert_flow(load_flow(source), "saga-new").text)
    for flow in ("saga", "saga-new"):
        row = runtime.wait(runtime.start_execution(flow, {}, "e1").id, 30)
        assert (row.status, row.output) == ("Succeeded", {"failed": "FC.Unknown", "aborted": "FC.Unknown"}), flow
