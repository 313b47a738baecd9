"""Calls taken over from a dead worker (suspects) are charged only for the runs they start, and a
suspect lost twice runs alone on its worker: an innocent call taken over together with a call that
kills its worker is not failed with it (docs/architecture.md, "Poison calls")."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

import pytest

GATE = textwrap.dedent("""
    import os, time
    def handler(event, context):
        open(os.path.join(event["dir"], event["who"] + ".started"), "w").close()
        while not os.path.exists(os.path.join(event["dir"], event["who"] + ".go")):
            time.sleep(0.01)
        return {"who": event["who"]}
""")


@pytest.fixture
def fc(tmp_path):
    """The FC integration of a started runtime, with the gate function."""
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    directory = tmp_path / "functions"
    directory.mkdir()
    (directory / "gate.py").write_text(GATE)
    settings = Settings.from_config({"functions": {"max_instances": 4}}, functions_dir=directory)
    runtime = Runtime(SQLiteStore.in_memory(), settings=settings).start()
    yield runtime.registry.get("FC:InvokeFunction"), runtime.store
    runtime.close()


def _taken_over(store, execution_id: int, dispatches: int):
    """A call as a worker sees it after taking it over (``dispatches`` handed out, this one included)."""
    from stateway.runtime import TaskCall

    call = TaskCall(execution_id=execution_id, execution_name=f"e{execution_id}", flow_name="f", task_id="3",
                    token="t", action="FC:InvokeFunction", mode="RequestComplete",
                    parameters={"resourceArn": "acs:fc:::functions/gate"}, timeout=None, step="Call")
    store.redispatched[(execution_id, "3")] = dispatches
    return call


def _invoke(integration, call, body: dict, results: dict) -> threading.Thread:
    from dataclasses import replace

    call = replace(call, parameters={**call.parameters, "body": body})

    def run() -> None:
        try:
            results[body["who"]] = integration.invoke(call)
        except Exception as exc:  # the assertion names it
            results[body["who"]] = exc
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _until(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _lost(integration, store, call) -> int:
    return store.lost_dispatches(integration.invocation_id(call))["lost"]


def test_suspects_lost_twice_run_one_at_a_time_and_are_charged_only_when_they_start(fc, tmp_path: Path):
    integration, store = fc
    a, b = _taken_over(store, 1, 3), _taken_over(store, 2, 3)
    for call in (a, b):
        store.note_lost_dispatch(integration.invocation_id(call), call.execution_id, "3", "gate", "", "", 1.0,
                                 count=2)
    results: dict = {}
    first = _invoke(integration, a, {"who": "a", "dir": str(tmp_path)}, results)
    _until(lambda: (tmp_path / "a.started").exists(), "the first suspect did not start")
    assert _lost(integration, store, a) == 3  # charged before it ran: had its worker died, it would count
    second = _invoke(integration, b, {"who": "b", "dir": str(tmp_path)}, results)
    time.sleep(0.5)
    assert not (tmp_path / "b.started").exists()  # waits for the lane while the other suspect runs
    assert _lost(integration, store, b) == 2  # and is not charged for waiting
    (tmp_path / "a.go").touch()
    first.join(60)
    assert results["a"].output == {"Body": {"who": "a"}}
    _until(lambda: (tmp_path / "b.started").exists(), "the second suspect did not start after the first")
    assert _lost(integration, store, b) == 3
    (tmp_path / "b.go").touch()
    second.join(60)
    assert results["b"].output == {"Body": {"who": "b"}}


def test_a_first_take_over_counts_the_lost_dispatch_and_runs_alongside_others(fc, tmp_path: Path):
    integration, store = fc
    a, b = _taken_over(store, 1, 2), _taken_over(store, 2, 2)
    results: dict = {}
    threads = [_invoke(integration, call, {"who": who, "dir": str(tmp_path)}, results)
               for call, who in ((a, "a"), (b, "b"))]
    _until(lambda: (tmp_path / "a.started").exists() and (tmp_path / "b.started").exists(),
           "suspects lost once did not run side by side")
    # the dispatch lost with the dead worker, and this one, counted before it ran
    assert _lost(integration, store, a) == _lost(integration, store, b) == 2
    for who in ("a", "b"):
        (tmp_path / f"{who}.go").touch()
    for thread in threads:
        thread.join(60)
    assert results["a"].output == {"Body": {"who": "a"}} and results["b"].output == {"Body": {"who": "b"}}


def test_a_suspect_lost_max_dispatches_times_fails_without_running(fc, tmp_path: Path):
    from stateway.runtime import IntegrationError

    integration, store = fc
    call = _taken_over(store, 1, 6)
    store.note_lost_dispatch(integration.invocation_id(call), 1, "3", "gate", "killed by signal SIGKILL", "bye",
                             1.0, count=5)
    results: dict = {}
    _invoke(integration, call, {"who": "a", "dir": str(tmp_path)}, results).join(60)
    assert isinstance(results["a"], IntegrationError) and results["a"].error == "FC.FunctionCrashed"
    assert "dispatched 5 times" in results["a"].cause and "SIGKILL" in results["a"].cause
    assert not (tmp_path / "a.started").exists()
    assert [p["dispatches"] for p in store.poison_calls(1)] == [5]
