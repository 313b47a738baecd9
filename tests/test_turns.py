"""How the loop shares itself between continuing executions and fresh work (runtime/_fairness.py):
continuing executions take turns in rotation, and a continuing turn that follows an end waits for
what the thread that end woke starts next, so that start cuts it short."""

from __future__ import annotations

import threading
import time

from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore
from tests.shared_flows import ENDLESS, SMALL


def _runtime(tmp_path) -> Runtime:
    rt = Runtime(SQLiteStore(str(tmp_path / "turns.db")), settings=Settings.from_config({"limits": {"events": 10**9}}))
    rt.register_flow("endless", ENDLESS)
    rt.register_flow("small", SMALL)
    return rt


def test_continuing_executions_take_turns_in_rotation(tmp_path):
    # a streak kept in memory keeps the oldest inbox row of all: by inbox order it would take every turn
    rt = _runtime(tmp_path)
    loops = [rt.start_execution("endless", {}).id for _ in range(3)]
    rt.run_round(time.time())  # their starts, fresh work: each runs a turn and yields
    assert set(rt.turns.continuing) == set(loops)
    turns = []
    for _ in range(9):
        before = {e: rt.store.history_count(e) for e in loops}
        rt.run_round(time.time())
        turns += [e for e in loops if rt.store.history_count(e) > before[e]]
    assert turns == loops * 3, turns  # one a round, oldest turn first
    rt.store.close()


def test_a_continuing_turn_after_an_end_waits_for_the_start_that_end_woke(tmp_path):
    rt = _runtime(tmp_path)
    # decided by the next start's wake-up alone, not by the hand-over's time-out
    rt.turns.handoff_seconds = 60
    batches: list[tuple[list[int], dict]] = []
    real = rt.process_batch

    def recorded(execution_ids):
        decided = real(execution_ids)
        if execution_ids:
            batches.append((list(execution_ids), dict(decided)))
        return decided

    rt.process_batch = recorded  # type: ignore[method-assign]
    rt.start()
    try:
        loop = rt.start_execution("endless", {}).id
        deadline = time.monotonic() + 20
        while rt.store.history_count(loop) < 3_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loop in rt.turns.continuing
        smalls = []
        for _ in range(20):
            row = rt.start_execution("small", {})
            smalls.append(row.id)
            assert rt.wait(row.id, 20).status == "Succeeded"
        stopper = threading.Timer(0.2, rt.stop_execution, (loop,))  # ends the hand-over after the last end
        stopper.start()
        assert rt.wait(loop, 20).status == "Stopped"
    finally:
        rt.close()
        rt.store.close()
    followers = []  # the continuing turn of each round whose fresh work ended a small execution
    for (_ids, decided), (next_ids, next_decided) in zip(batches, batches[1:], strict=False):
        if any(d is not None and d.ended is not None for x, d in decided.items() if x in smalls) and next_ids == [loop]:
            followers.append(len(next_decided[loop].history))
    assert len(followers) >= 15, (followers, batches[-5:])
    # cut short at the first look at fresh work (1,000 events a turn, looked at every 32): the next start
    # was there before the turn began
    assert max(followers) < 64, followers
