"""Skipped time: waits, task timeouts, retry backoffs, execution timeouts and schedules on the virtual clock."""

from __future__ import annotations

import time

from stateway.testing import DEFAULT_START, NO_ANSWER, Harness
from tests.testing.flows import LONG_WAIT_AND_TIMEOUTS, WAIT

DAY = 86400


def test_a_30_day_wait_and_three_retried_timeouts_take_under_100_ms():
    """Measured in CPU time, so that other processes on a busy machine do not fail it; `make bench` reports the
    wall time of the same run (fixture.ms_30_day_wait)."""

    def once() -> float:
        began = time.process_time()
        with Harness() as stateway:
            stateway.register(LONG_WAIT_AND_TIMEOUTS)
            stateway.mock("FC:InvokeFunction", resource="functions/slow-service",
                          responses=[NO_ANSWER, NO_ANSWER, NO_ANSWER, {"Body": {"ok": True}}])
            result = stateway.run("long-wait", {"n": 1})
        took = time.process_time() - began
        assert result.status == "Succeeded"
        assert result.step("Call").attempts == 4
        assert [e for e, _ in result.step("Call").retried] == ["FnF.Timeout"] * 3
        assert result.duration == 3 * 30 + 10 + 20 + 40 + 30 * DAY  # the fourth attempt answers at once
        return took

    # best of three; each run includes a fresh engine
    assert min(once() for _ in range(3)) < 0.1


def test_advance_moves_the_clock_and_fires_what_comes_due(stateway):
    stateway.register(WAIT)
    handle = stateway.start("wait", {"seconds": 10})
    assert handle.status == "Running"
    handle.advance(9.5)
    assert handle.status == "Running"
    handle.advance(0.5)
    assert handle.status == "Succeeded"
    assert stateway.clock.now() == DEFAULT_START + 10


def test_run_until_blocked_does_not_move_the_clock(stateway):
    stateway.register(WAIT)
    handle = stateway.start("wait", {"seconds": 0})
    assert handle.status == "Succeeded"  # a zero wait is due at once
    handle = stateway.start("wait", {"seconds": 1})
    handle.run_until_blocked()
    assert handle.status == "Running" and stateway.clock.now() == DEFAULT_START


def test_times_the_flow_sees_are_virtual(stateway):
    stateway.register(WAIT)
    result = stateway.run("wait", {"seconds": 3600})
    assert result.output == {"started": "2026-01-01T00:00:00.000Z"}
    assert result.history[-1]["Time"] == DEFAULT_START + 3600


def test_a_task_timeout_fires_at_its_moment(stateway):
    stateway.register(LONG_WAIT_AND_TIMEOUTS)
    stateway.mock("FC:InvokeFunction", resource="functions/slow-service", later=True)
    handle = stateway.start("long-wait", {"n": 1})
    handle.advance(29)
    assert len(handle.pending_tasks()) == 1
    handle.advance(1)  # the first attempt timed out; the retry waits 10 s
    assert handle.pending_tasks() == []
    handle.advance(10)
    assert len(handle.pending_tasks()) == 1
    handle.report_success("Call", {"late": False})
    assert handle.snapshot().path() == ["Call", "Sleep"]


def test_retry_backoff_runs_on_the_virtual_clock(stateway):
    stateway.register(LONG_WAIT_AND_TIMEOUTS)
    stateway.mock("FC:InvokeFunction", resource="functions/slow-service", raises=("FnF.Timeout", "simulated"))
    result = stateway.run("long-wait", {"n": 1})
    scheduled = [e["Time"] - DEFAULT_START for e in result.events("TaskScheduled")]
    assert scheduled == [0, 10, 30, 70]  # IntervalSeconds 10, BackoffRate 2
    assert (result.status, result.error) == ("Failed", "FnF.Timeout")


def test_an_execution_timeout_ends_it_on_the_virtual_clock(stateway):
    stateway.register(WAIT.replace("StartAt: Pause", "Timeout: 3600\nStartAt: Pause"))
    result = stateway.run("wait", {"seconds": 7 * DAY})
    assert (result.status, result.error) == ("TimedOut", "FnF.Timeout")
    assert result.duration == 3600


def test_schedules_fire_as_the_clock_passes_them(stateway):
    stateway.register(WAIT)
    stateway.schedule("wait", "0 0 * * * *", payload={"seconds": 60})  # every hour, on the hour
    stateway.advance(3 * 3600 + 61)
    runs = stateway.executions("wait")
    assert [r.status for r in runs] == ["Succeeded"] * 3
    assert [r.started - DEFAULT_START for r in runs] == [3600, 7200, 10800]


def test_the_clock_only_moves_forward(stateway):
    import pytest

    with pytest.raises(ValueError, match="forward"):
        stateway.clock.advance(-1)
    with pytest.raises(ValueError, match="forward"):
        stateway.clock.set(DEFAULT_START - 1)


def test_a_runtime_reads_time_from_its_clock():
    """The production runtime with an injected clock: what it stores and decides is on that clock."""
    from stateway.runtime import Runtime, SystemClock
    from stateway.store import SQLiteStore
    from stateway.testing import VirtualClock

    clock = VirtualClock(1_000_000.0)
    runtime = Runtime(SQLiteStore.in_memory(), clock=clock)
    try:
        assert isinstance(Runtime(SQLiteStore.in_memory()).clock, SystemClock)
        runtime.register_flow("wait", WAIT)
        row = runtime.start_execution("wait", {"seconds": 5}, "e1")
        assert row.started == 1_000_000.0

        def step() -> None:
            # a claim's lease is fenced against the real time at commit: hold it past that
            lease = time.time() - clock.now() + 60
            for execution_id in runtime.store.claim_executions(runtime.owner, clock.now(), 10, lease):
                runtime.process(execution_id)

        step()
        assert runtime.store.next_due() == 1_000_005.0
        step()
        assert runtime.store.get_execution(row.id).status == "Running"
        clock.advance(5)
        step()
        assert runtime.store.get_execution(row.id).status == "Succeeded"
    finally:
        runtime.close()
