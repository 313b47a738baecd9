"""A continuing execution keeps its state in its worker's memory while that worker holds the claim:
a turn that only goes on writes its history and nothing else, and a crash in the middle of such a
streak loses nothing (the next worker re-runs it from the stored state and its "continue" row)."""

from __future__ import annotations

import time

from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore
from tests.shared_flows import LOOP

N = 1_500  # about 6,000 events: six turns or so of 1,000


class Counted:
    def __init__(self, store: SQLiteStore, *names: str) -> None:
        self.calls = dict.fromkeys(names, 0)
        for name in names:
            real = getattr(store, name)

            def counted(*args, _real=real, _name=name, **kwargs):
                self.calls[_name] += 1
                return _real(*args, **kwargs)

            setattr(store, name, counted)


def _runtime(store: SQLiteStore) -> Runtime:
    rt = Runtime(store, settings=Settings.from_config({}))
    rt.register_flow("loop", LOOP)
    return rt


def _turn(rt: Runtime) -> int:
    claimed = rt.store.claim_executions(rt.owner, time.time(), 10, 30.0)
    rt.process_batch(claimed)
    return len(claimed)


def _event_ids(store: SQLiteStore, execution_id: int) -> list[int]:
    ids, after = [], 0
    while batch := store.history(execution_id, after, 1000):
        ids += [e["EventId"] for e in batch]
        after = ids[-1]
    return ids


def test_a_streak_reads_and_writes_the_state_once(tmp_path):
    store = SQLiteStore(str(tmp_path / "s.db"))
    counted = Counted(store, "get_executions", "commit_batch", "append_history")
    rt = _runtime(store)
    row = rt.start_execution("loop", {"i": 0, "n": N})
    turns = 0
    while _turn(rt):
        turns += 1
        assert turns < 100
    ended = store.get_execution(row.id)
    assert ended.status == "Succeeded" and ended.output == {"i": N, "n": N}
    assert turns >= 5
    # the start and the first "continue" read the stored state; the end writes it; between them only history
    assert counted.calls["get_executions"] == 2, counted.calls
    assert counted.calls["commit_batch"] == 2, counted.calls
    assert counted.calls["append_history"] == turns - 2
    ids = _event_ids(store, row.id)
    assert ids == list(range(1, len(ids) + 1))
    assert rt.memory == {} and store.next_due() is None


def test_a_crash_in_a_streak_is_run_again_from_the_stored_state(tmp_path):
    path = str(tmp_path / "s.db")
    store = SQLiteStore(path)
    rt = _runtime(store)
    row = rt.start_execution("loop", {"i": 0, "n": N})
    for _ in range(4):  # the start, a continue read from the store, two turns kept in memory
        assert _turn(rt) == 1
    assert row.id in rt.memory
    kept = store.history_count(row.id)
    assert store.get_execution(row.id).state["ready"]  # the stored state is the one before the streak
    # the worker dies here: its memory is gone, its claim is released by the next process on the file
    again = _runtime(SQLiteStore(path))
    with again:
        ended = again.wait(row.id, 60)
    assert ended.status == "Succeeded" and ended.output == {"i": N, "n": N}
    ids = _event_ids(again.store, row.id)
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > kept  # rewritten in place, nothing doubled
    types = [e["Type"] for e in again.store.history(row.id, 0, 1000)]
    assert types.count("ExecutionStarted") == 1
