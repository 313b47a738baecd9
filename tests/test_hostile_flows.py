"""Hostile flows: whatever one execution or definition does, the others keep running.

Each test starts the hostile thing, then a small execution alongside that must finish, then checks
that the hostile one ended on its own with a clear error. The bounds here only detect a hang (far
above what is measured); how fast the small execution is next to hostile ones is measured by
`make bench` (the ``limits`` figures), not asserted here.
"""

import json
import logging
import time

import pytest

from stateway.fdl import FlowDefinitionError
from stateway.runtime import Runtime
from stateway.runtime._runtime import InvalidArgument
from stateway.settings import Settings
from stateway.store import SQLiteStore
from tests.shared_flows import ENDLESS, SMALL, alias_bomb


def one_expression(expression: str) -> str:
    return f"""Type: StateMachine
SpecVersion: v1
StartAt: P
States:
  - Type: Pass
    Name: P
    InputConstructor:
      v.$: {json.dumps(expression)}
    End: true
"""


def small_finishes_alongside(runtime: Runtime) -> float:
    """Start a small execution now; it must finish (a hang detector: 20 s, where ~1 ms is measured).
    Returns how long it took."""
    runtime.register_flow("small", SMALL)
    began = time.monotonic()
    row = runtime.start_execution("small", {})
    ended = runtime.wait(row.id, 20)
    took = time.monotonic() - began
    assert ended.status == "Succeeded", f"the small execution did not finish next to the hostile one: {ended}"
    return took


def start_hostile(runtime: Runtime, definition: str, execution_input=None) -> int:
    runtime.register_flow("hostile", definition)
    execution_id = runtime.start_execution("hostile", execution_input or {}).id
    time.sleep(0.05)  # let it get going
    return execution_id


def test_an_endless_loop_fails_at_the_events_limit_while_others_run(memory_runtime):
    runtime = memory_runtime()
    hostile = start_hostile(runtime, ENDLESS)
    small_finishes_alongside(runtime)
    ended = runtime.wait(hostile, 60)
    assert ended.status == "Failed" and ended.error == "FnF.EventsLimitExceeded", ended
    events = runtime.store.history(hostile, limit=100_000)
    assert 25_000 < len(events) <= 25_004  # checked at every event, not between frames


def test_stop_takes_a_looping_execution_down(memory_runtime):
    runtime = memory_runtime(limits={"events": 10**9})
    hostile = start_hostile(runtime, ENDLESS)
    small_finishes_alongside(runtime)
    assert runtime.store.get_execution(hostile).status == "Running"
    runtime.stop_execution(hostile, "Halt", "enough")
    ended = runtime.wait(hostile, 20)  # a hang detector; `make bench` measures limits.stop_loop_s
    assert ended.status == "Stopped", ended


def test_three_endless_loops_leave_a_small_execution_its_speed(memory_runtime):
    runtime = memory_runtime(limits={"events": 10**9})
    runtime.register_flow("hostile", ENDLESS)
    loops = [runtime.start_execution("hostile", {}).id for _ in range(3)]
    time.sleep(0.1)
    for _ in range(5):  # each must finish; the latency itself is `make bench`'s limits.small_next_to_loops_*
        small_finishes_alongside(runtime)
    for execution_id in loops:
        runtime.stop_execution(execution_id)
    assert all(runtime.wait(e, 20).status == "Stopped" for e in loops)


@pytest.mark.parametrize("expression, says", [
    ("length('a', 'b')", "length() takes 1 argument, got 2: length(x)"),
    ("hash('a')", "hash() takes 2 arguments, got 1: hash(text, algorithm)"),
])
def test_wrong_arity_is_a_validation_error_naming_the_signature(memory_runtime, expression, says):
    runtime = memory_runtime()
    with pytest.raises(FlowDefinitionError) as caught:
        runtime.register_flow("hostile", one_expression(expression))
    assert says in str(caught.value) and "InputConstructor > v.$" in str(caught.value)
    small_finishes_alongside(runtime)


def test_a_definition_stored_before_validation_fails_its_execution_once(memory_runtime):
    runtime = memory_runtime()
    runtime.store.put_flow("hostile", one_expression("length('a', 'b')"), {}, replace=True)  # bypasses validation
    hostile = runtime.start_execution("hostile", {}).id
    small_finishes_alongside(runtime)
    ended = runtime.wait(hostile, 20)
    assert ended.status == "Failed" and ended.error == "FnF.InvalidArgument" and "length()" in ended.cause


def test_a_catastrophic_regex_runs_in_linear_time(memory_runtime):
    runtime = memory_runtime()
    hostile = start_hostile(runtime, one_expression("regexMatchString($Input.s, '^(a+)+$')"),
                            {"s": "a" * 31 + "b"})
    small_finishes_alongside(runtime)
    ended = runtime.wait(hostile, 20)
    assert ended.status == "Succeeded" and ended.output == {"v": False}, ended


def test_a_pattern_re2_refuses_is_a_validation_error_then_invalid_argument_at_run_time(memory_runtime):
    runtime = memory_runtime()
    with pytest.raises(FlowDefinitionError, match="RE2"):
        runtime.register_flow("literal", one_expression("regexMatchString($Input.s, '(?<=a)b')"))
    hostile = start_hostile(runtime, one_expression("regexMatchString($Input.s, $Input.p)"), {"s": "ab", "p": "(a)\\1"})
    ended = runtime.wait(hostile, 20)
    assert ended.status == "Failed" and ended.error == "FnF.InvalidArgument" and "RE2" in ended.cause, ended


def test_a_yaml_alias_bomb_is_refused_at_once(memory_runtime):
    runtime = memory_runtime()
    began = time.monotonic()
    with pytest.raises(FlowDefinitionError, match="YAML aliases are expanded"):
        runtime.register_flow("hostile", alias_bomb(9))  # 10^9 strings once expanded
    # a hang detector (expanding it would take hours); `make bench` measures limits.alias_bomb_s (~0.1 ms)
    assert time.monotonic() - began < 5.0
    small_finishes_alongside(runtime)


def test_a_lone_surrogate_fails_the_state_with_invalid_argument(memory_runtime):
    runtime = memory_runtime()
    hostile = start_hostile(runtime, one_expression("stringToJson('\"\\\\ud800\"')"))
    small_finishes_alongside(runtime)
    ended = runtime.wait(hostile, 20)
    assert ended.status == "Failed" and ended.error == "FnF.InvalidArgument" and "surrogate" in ended.cause, ended
    with pytest.raises(InvalidArgument, match="surrogate"):
        runtime.start_execution("small", {"s": "\ud800"})


@pytest.mark.parametrize("expression", ["1e308 * 10", "stringToJson('NaN')", "stringToJson('[1e999]')",
                                        "$Input.big * $Input.big"])
def test_nan_and_overflow_fail_the_state_with_invalid_argument(memory_runtime, expression):
    runtime = memory_runtime()
    hostile = start_hostile(runtime, one_expression(expression), {"big": 2**62})
    small_finishes_alongside(runtime)
    ended = runtime.wait(hostile, 20)
    assert ended.status == "Failed" and ended.error == "FnF.InvalidArgument", ended


def test_nan_and_deep_nesting_are_refused_as_execution_input(memory_runtime):
    runtime = memory_runtime()
    runtime.register_flow("small", SMALL)
    deep: dict = {}
    for _ in range(150):
        deep = {"d": deep}
    for bad, says in ((float("nan"), "nan"), (float("inf"), "inf"), (deep, "nest more than 100")):
        with pytest.raises(InvalidArgument, match=says):
            runtime.start_execution("small", {"x": bad})
    with pytest.raises(InvalidArgument, match="65536 bytes"):
        runtime.start_execution("small", {"x": "y" * 70_000})


def test_an_oversized_global_fails_the_state_with_data_limit_exceeded(memory_runtime):
    runtime = memory_runtime()
    definition = """Type: StateMachine
SpecVersion: v1
StartAt: P
States:
  - Type: Pass
    Name: P
    GlobalConstructor:
      big.$: $Input.s + $Input.s + $Input.s + $Input.s + $Input.s
    End: true
"""
    hostile = start_hostile(runtime, definition, {"s": "x" * 60_000})
    small_finishes_alongside(runtime)
    ended = runtime.wait(hostile, 20)
    assert ended.status == "Failed" and ended.error == "FnF.DataLimitExceeded" and "big" in ended.cause, ended
    long_key = "k" * 129
    with pytest.raises(FlowDefinitionError, match="at most 128 bytes"):
        runtime.register_flow("key", definition.replace("big.$", f"{long_key}.$"))


def test_a_growing_loop_is_stopped_by_the_state_size_limit(memory_runtime):
    runtime = memory_runtime()
    definition = """Type: StateMachine
SpecVersion: v1
StartAt: Grow
States:
  - Type: Pass
    Name: Grow
    InputConstructor:
      s.$: $Input.s + $Input.s
    Next: Grow
"""
    hostile = start_hostile(runtime, definition, {"s": "ab"})
    small_finishes_alongside(runtime)
    ended = runtime.wait(hostile, 20)
    assert ended.status == "Failed" and ended.error == "FnF.DataLimitExceeded", ended


def test_a_poisoned_execution_ends_runtime_error_once_and_stays_ended_after_a_restart(tmp_path, monkeypatch, caplog):
    from stateway.engine import Interpreter

    real = Interpreter.decide

    def decide(self, state, event, *args, **kwargs):
        if state.get("flow") == "hostile":
            raise TypeError("a bug in the engine")
        return real(self, state, event, *args, **kwargs)

    monkeypatch.setattr(Interpreter, "decide", decide)
    db = str(tmp_path / "s.db")
    runtime = Runtime(SQLiteStore(db), settings=Settings.from_config(functions_dir=str(tmp_path))).start()
    try:
        with caplog.at_level(logging.ERROR, logger="stateway.runtime"):
            hostile = start_hostile(runtime, SMALL)
            small_finishes_alongside(runtime)
            ended = runtime.wait(hostile, 20)
            time.sleep(0.3)  # a retry loop, if there were one, would log again meanwhile
        assert ended.status == "Failed" and ended.error == "FnF.RuntimeError", ended
        assert "TypeError: a bug in the engine" in ended.cause
        assert len([r for r in caplog.records if "FnF.RuntimeError" in r.getMessage()]) == 1
        history = runtime.store.history(hostile)
        assert history[-1]["Type"] == "ExecutionFailed"
    finally:
        runtime.close()
        runtime.store.close()
    caplog.clear()
    again = Runtime(SQLiteStore(db), settings=Settings.from_config(functions_dir=str(tmp_path))).start()
    try:
        with caplog.at_level(logging.ERROR, logger="stateway.runtime"):
            time.sleep(0.3)
        assert again.store.get_execution(hostile).status == "Failed"
        assert not [r for r in caplog.records if "FnF.RuntimeError" in r.getMessage()]
        assert again.store.next_due() is None
    finally:
        again.close()
        again.store.close()


def test_a_failure_after_the_commit_does_not_poison_the_execution(memory_runtime, monkeypatch):
    from stateway.runtime import _metrics

    class Broken:
        def inc(self, *args):
            raise RuntimeError("metrics are down")

    _metrics._make()
    monkeypatch.setitem(_metrics._made, "DECISIONS", Broken())
    runtime = memory_runtime()
    runtime.register_flow("small", SMALL)
    ended = runtime.wait(runtime.start_execution("small", {}).id, 5)
    assert ended.status == "Succeeded", ended

