"""A worker's batch: decided one by one, committed together, but never holding more than one
decision's worth of history, nor keeping its first members waiting longer than one turn."""

from __future__ import annotations

import time

import pytest

from stateway.runtime import Runtime
from stateway.runtime import _batches as runtime_module
from stateway.settings import Settings
from stateway.store import SQLiteStore

BIG = """Type: StateMachine
SpecVersion: v1
Name: big
StartAt: Fill
States:
  - Type: Pass
    Name: Fill
    OutputConstructor:
      text.$: $Input.text
    End: true
"""


@pytest.fixture
def runtime():
    rt = Runtime(SQLiteStore.in_memory(), settings=Settings.from_config({}))
    rt.register_flow("big", BIG)
    yield rt
    rt.close()


def _run_batch(rt: Runtime, inputs: list[dict]) -> list[int]:
    """Start the executions, then claim and process them as one batch; the commits it made."""
    ids = [rt.start_execution("big", execution_input).id for execution_input in inputs]
    commits: list[int] = []
    real = rt.store.commit_batch

    def counted(batch, *args, **kwargs):
        commits.append(len(batch))
        return real(batch, *args, **kwargs)

    rt.store.commit_batch = counted  # type: ignore[method-assign]
    claimed = rt.store.claim_executions(rt.owner, time.time(), 64, 30.0)
    assert sorted(claimed) == sorted(ids)
    rt.process_batch(claimed)
    assert [rt.store.get_execution(i).status for i in ids] == ["Succeeded"] * len(ids)
    return commits


def test_small_decisions_are_committed_together(runtime, monkeypatch):
    monkeypatch.setattr(runtime_module, "DECISION_SECONDS", 60.0)  # a slow machine must not split it
    assert _run_batch(runtime, [{"text": "x"} for _ in range(5)]) == [5]


def test_a_batch_is_committed_in_parts_once_its_history_is_big(runtime, monkeypatch):
    monkeypatch.setattr(runtime_module, "BATCH_BYTES", 100_000)
    monkeypatch.setattr(runtime_module, "DECISION_SECONDS", 60.0)
    big = {"text": "y" * 40_000}  # each decision writes the input and the output: about 80 KB of detail
    commits = _run_batch(runtime, [big, big, {"text": "small"}, big, big])
    assert sum(commits) == 5 and len(commits) >= 3 and max(commits) <= 2, commits


def test_a_batch_is_committed_in_parts_once_it_has_taken_a_turn(runtime, monkeypatch):
    monkeypatch.setattr(runtime_module, "DECISION_SECONDS", 0.0)
    assert _run_batch(runtime, [{"text": "x"} for _ in range(4)]) == [1, 1, 1, 1]
