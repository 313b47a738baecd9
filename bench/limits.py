"""Timings that used to be asserted in the test suite (issue 20 §5): how fast a definition is
validated or refused, and how much a hostile execution slows a small one. The tests keep only a
hang detector (20× the figure measured here); the figures and their targets live here.

Each function returns seconds (CPU seconds for validation, where the machine's load should not
count; wall seconds for latencies, which are what a user waits)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.shared_flows import ENDLESS, SMALL, alias_bomb, large_definition, v1_big_flow


def _cpu(fn) -> float:  # type: ignore[no-untyped-def]
    began = time.process_time()
    fn()
    return time.process_time() - began


def large_definition_cpu_s() -> float:
    from stateway.fdl import load_flow

    source = large_definition()
    return _cpu(lambda: load_flow(source))


def deep_nesting_refusal_cpu_s() -> float:
    from stateway.fdl import FlowDefinitionError, load_flow

    source = "Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates: " + "[" * 30_000 + "]" * 30_000 + "\n"

    def refuse() -> None:
        try:
            load_flow(source)
        except FlowDefinitionError:
            return
        raise AssertionError("a 30,000-deep definition was accepted")

    return _cpu(refuse)


def v1_500_steps_cpu_s() -> float:
    from stateway.fdl import load_flow

    source = v1_big_flow(500)
    return _cpu(lambda: load_flow(source))


def alias_bomb_refusal_s() -> float:
    from stateway.fdl import FlowDefinitionError, load_flow

    source = alias_bomb(9)
    began = time.perf_counter()
    try:
        load_flow(source)
    except FlowDefinitionError:
        return time.perf_counter() - began
    raise AssertionError("an alias bomb was accepted")


def _runtime(directory: str, **limits: int):  # type: ignore[no-untyped-def]
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    functions = Path(directory) / "functions"
    functions.mkdir(exist_ok=True)
    runtime = Runtime(SQLiteStore.in_memory(), settings=Settings.from_config(
        {"limits": limits} if limits else {}, functions_dir=functions))
    runtime.start()
    return runtime


def _small_seconds(runtime) -> float:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    row = runtime.start_execution("small", {})
    ended = runtime.wait(row.id, 30)
    took = time.perf_counter() - began
    assert ended.status == "Succeeded", ended
    return took


def small_next_to_loops(loops: int = 3, samples: int = 5) -> dict[str, float]:
    """A two-state execution's latency while ``loops`` endless loops run, and how long a stop of
    one of them takes to end it."""
    with tempfile.TemporaryDirectory() as directory:
        runtime = _runtime(directory, events=10**9)
        try:
            runtime.register_flow("small", SMALL)
            runtime.register_flow("hostile", ENDLESS)
            quiet = sorted(_small_seconds(runtime) for _ in range(samples))[samples // 2]
            hostile = [runtime.start_execution("hostile", {}).id for _ in range(loops)]
            time.sleep(0.1)
            took = sorted(_small_seconds(runtime) for _ in range(samples))
            began = time.perf_counter()
            for execution_id in hostile:
                runtime.stop_execution(execution_id, "Halt", "enough")
            for execution_id in hostile:
                assert runtime.wait(execution_id, 30).status == "Stopped"
            stop = (time.perf_counter() - began) / loops
        finally:
            runtime.close()
    return {"quiet_p50_s": quiet, "p50_s": took[samples // 2], "max_s": took[-1], "stop_s": stop}
