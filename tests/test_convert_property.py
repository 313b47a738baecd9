"""Round trip as a property: every older-dialect conformance case, and older-dialect flows generated
with hypothesis, end the same before and after `stateway convert` (status, output, error), or
`convert` warned about that flow. Flows run under ``stateway.testing``: functions in-process,
time virtual."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stateway.fdl import load_flow
from stateway.fdl._convert import convert_flow
from stateway.testing import DEFAULT_START, Harness, TaskFailure
from stateway.timefmt import iso
from tests.conformance.harness import case_names, flow_name, load_case


def run_one(definition: str, name: str, value: Any, *, functions: dict[str, Any], children: dict[str, str],
            drive: list[dict[str, Any]]) -> tuple[Any, ...]:
    with Harness() as harness:
        for child, source in children.items():
            harness.register(source, name=child)
        for resource, handler in functions.items():
            harness.mock_function(resource, handler)
        harness.register(definition, name=name)
        handle = harness.start(name, value, name="e")
        for step in drive:
            if "report" in step:
                token = handle.pending_task(step["report"]).token
                if "fail" in step:
                    handle.report_failure(token, step["fail"]["error"], step["fail"].get("cause", ""))
                else:
                    handle.report_success(token, step["succeed"])
            elif "sleep" in step:
                handle.advance(step["sleep"])
            else:
                raise AssertionError(f"drive step {step} is not supported here")
        result = handle.result()
        return result.status, result.output, result.error


def same_or_warned(source: str, name: str, inputs: list[Any], *, functions: dict[str, Any] | None = None,
                   children: dict[str, str] | None = None, drive: list[dict[str, Any]] | None = None) -> bool:
    """Asserts the round trip; returns whether the conversion was exact (no warning)."""
    conversion = convert_flow(load_flow(source), name)
    converted_children = {child: convert_flow(load_flow(text), child).text for child, text in (children or {}).items()}
    notes = conversion.notes + [n for text in (children or {}).values() for n in convert_flow(load_flow(text)).notes]
    for value in inputs:
        kwargs = {"functions": functions or {}, "drive": drive or []}
        original = run_one(source, name, value, children=children or {}, **kwargs)
        converted = run_one(conversion.text, name, value, children=converted_children, **kwargs)
        if notes:
            continue  # convert warned: a difference is announced
        if concurrent_failures(source, original, converted):
            continue
        assert original == converted, (f"input {value!r}: the original ended {original}, the conversion "
                                       f"{converted}\n--- original\n{source}\n--- conversion\n{conversion.text}")
    return not notes


def concurrent_failures(source: str, original: tuple[Any, ...], converted: tuple[Any, ...]) -> bool:
    """Both failed, in a flow with branches or iterations running side by side: which of several failing
    branches fails the step first is not specified (a choice option's steps run as their own frame in the
    original and inline in the conversion, so they are scheduled in another order); the status must match."""
    return original[0] == converted[0] == "Failed" and ('"parallel"' in source or '"foreach"' in source)


# -- every older-dialect conformance case ---------------------------------------------------------------------
@pytest.mark.parametrize("case_name", case_names("v1"))
def test_every_older_dialect_case_round_trips(case_name):
    case = load_case(case_name)
    functions = {f"functions/{name}": source for name, source in (case.get("functions") or {}).items()}
    exact = same_or_warned(case["flow"], flow_name(case), [case.get("input") or {}], functions=functions,
                           children=case.get("children") or {}, drive=case.get("drive") or [])
    assert exact, f"convert warns on the conformance case {case_name}"


# -- generated flows -----------------------------------------------------------------------------------------------
LATER = iso(DEFAULT_START + 3600)


def _function(kind: int) -> Any:
    """Deterministic functions of the event, one per kind of result the older dialect treats apart."""
    def handler(event: Any, context: Any) -> Any:
        if kind == 0:
            return {"r": event.get("a") if isinstance(event, dict) else None, "n": len(event)}
        if kind == 1:
            return None
        if kind == 2:
            raise TaskFailure("Custom.Err", "boom")
        if kind == 3:
            return json.dumps({"t": 1})
        if kind == 4:
            raise ValueError("plain failure")
        return event
    return handler


FUNCTIONS = {f"functions/f{k}": _function(k) for k in range(6)}
NAMES = ["A", "B", "C", "D", "E"]

constants = st.sampled_from([1, 0, -1, "s", True, False, None, [1], {"k": 1}])
input_paths = st.sampled_from(["$input.a", "$input.z", "$input.b", "$.a", "$input", "$input.items[0]",
                               "$input.items[*]", "$input.missing.deeper", '$input.items[2]["v"]',
                               "$input['a b']", "$input.items[*].v"])
local_paths = st.sampled_from(["$local.r", "$local", "$local.n", "$local.t", "$local[0]", "$local.error",
                               "$local.cause"])
context_paths = st.sampled_from(["$context.step.name", "$context.task.retryCount", "$context.flow.name",
                                 "$context.execution.input.a"])


def mappings(with_local: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    sources = st.one_of(constants, input_paths, context_paths, *([local_paths] if with_local else []))
    return st.lists(st.fixed_dictionaries({"target": st.sampled_from(["x", "y", "r", "a"]), "source": sources}),
                    min_size=1, max_size=3)


operand_paths = st.sampled_from(["$.a", "$.z", "$.b", "$.missing", "$input.a"])
operand_constants = st.sampled_from(["1", "0", '"x"', "true", "false", "null", "2.0"])


@st.composite
def conditions(draw: Any, depth: int = 2) -> str:
    kind = draw(st.integers(0, 5 if depth > 0 else 1))
    if kind == 0:
        return draw(operand_paths)
    if kind == 1:
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"{draw(operand_paths)} {op} {draw(st.one_of(operand_constants, operand_paths))}"
    if kind == 2:
        return f"!({draw(conditions(depth - 1))})"
    if kind == 3:
        return f"{draw(conditions(depth - 1))} && {draw(conditions(depth - 1))}"
    if kind == 4:
        return f"{draw(conditions(depth - 1))} || {draw(conditions(depth - 1))}"
    return f"({draw(conditions(depth - 1))})"


def _maybe(draw: Any, step: dict[str, Any], key: str, strategy: Any) -> None:
    if draw(st.booleans()):
        step[key] = draw(strategy)


@st.composite
def steps_lists(draw: Any, depth: int = 2) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 4 if depth > 1 else 3))
    names = NAMES[:count]
    out = []
    for i, name in enumerate(names):
        later = names[i + 1:]
        kinds = ["pass", "task", "wait", "succeed", "fail"] + (["choice", "parallel", "foreach"] if depth > 0 else [])
        kind = draw(st.sampled_from(kinds))
        step: dict[str, Any] = {"type": kind, "name": name}
        if kind not in ("fail",):
            _maybe(draw, step, "inputMappings", mappings(True))
            _maybe(draw, step, "outputMappings", mappings(True))
        if kind == "task":
            step["resourceArn"] = f"acs:fc:::functions/f{draw(st.integers(0, 5))}"
            if draw(st.booleans()):
                step["retry"] = [{"errors": [draw(st.sampled_from(["FC.Unknown", "Custom.Err", "FnF.ALL"]))],
                                  "intervalSeconds": 1, "maxAttempts": draw(st.integers(0, 2))}]
            if later and draw(st.booleans()):
                step["catch"] = [{"errors": [draw(st.sampled_from(["FC.Unknown", "Custom.Err", "FnF.ALL"]))],
                                  "goto": draw(st.sampled_from(later))}]
                _maybe(draw, step, "errorMappings", mappings(True))
        elif kind == "wait":
            step.update(draw(st.sampled_from([{"duration": 5}, {"duration": "$.a"}, {"timestamp": "$.ts"},
                                              {"timestamp": LATER}])))
        elif kind == "fail":
            step["error"] = draw(st.sampled_from(["My.Error", "FnF.TaskTimeout"]))
            step["cause"] = "because"
        elif kind == "choice":
            options = []
            for _ in range(draw(st.integers(1, 2))):
                option: dict[str, Any] = {"condition": draw(conditions())}
                if draw(st.booleans()):
                    option["steps"] = draw(steps_lists(depth - 1))
                if later and (draw(st.booleans()) or "steps" not in option):
                    option["goto"] = draw(st.sampled_from(later))
                elif "steps" not in option:
                    option["steps"] = [{"type": "pass", "name": "P"}]
                options.append(option)
            step["choices"] = options
            if draw(st.booleans()):
                default: dict[str, Any] = {}
                if draw(st.booleans()):
                    default["steps"] = draw(steps_lists(depth - 1))
                if later and (draw(st.booleans()) or not default):
                    default["goto"] = draw(st.sampled_from(later))
                if default:
                    step["default"] = default
        elif kind == "parallel":
            step["branches"] = [{"steps": draw(steps_lists(depth - 1))} for _ in range(draw(st.integers(1, 2)))]
        elif kind == "foreach":
            mapping = {"collection": "$.items", "item": "it"}
            if draw(st.booleans()):
                mapping["index"] = "i"
            step["iterationMapping"] = mapping
            step["steps"] = draw(steps_lists(depth - 1))
        if kind in ("pass", "task", "wait") and draw(st.integers(0, 5)) == 0:
            step["end"] = True
        out.append(step)
    return out


@st.composite
def flows(draw: Any) -> str:
    doc: dict[str, Any] = {"version": "v1", "type": "flow", "steps": draw(steps_lists())}
    _maybe(draw, doc, "inputMappings", mappings(False))
    _maybe(draw, doc, "outputMappings", mappings(True))
    return json.dumps(doc)


inputs = st.fixed_dictionaries({}, optional={
    "a": st.sampled_from([-1, 0, 1, 2, 2.5, None, "x"]),
    "a b": st.sampled_from([1, "q"]),
    "b": st.sampled_from(["x", "y", ""]),
    "z": st.sampled_from([True, False, None, 1, "s"]),
    "items": st.lists(st.sampled_from([0, 1, {"v": 2}]), max_size=3),
    "ts": st.sampled_from([LATER, "2000-01-01T00:00:00Z", "soon", 7]),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=flows(), given_inputs=st.lists(inputs, min_size=1, max_size=2))
def test_generated_flows_round_trip(source, given_inputs):
    same_or_warned(source, "generated", given_inputs, functions=FUNCTIONS)
