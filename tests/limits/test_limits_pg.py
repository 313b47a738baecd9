"""Concurrency limits on PostgreSQL: starts from two nodes at once respect the cap (admission is
serialized per flow), and with two worker processes, one of them killed mid-flight, no slot leaks:
every execution, the last included, still starts and ends."""

from __future__ import annotations

import threading
import time

import pytest

from stateway.runtime import Runtime
from stateway.store import open_store
from tests.pg.processes import worker

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/nap
      body: {}
    Next: Pause
  - Type: Wait
    Name: Pause
    Seconds: 1
    End: true
"""
NAP = "import time\n\ndef handler(event, context):\n    time.sleep(0.2)\n    return {}\n"


def running(store, flow):
    return store.count_executions(flow, "Running")


@pytest.mark.timeout(600)  # processes start slowly on a busy machine
def test_limit_holds_across_nodes_and_a_killed_worker_leaks_no_slot(tmp_path, pg_url):
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "nap.py").write_text(NAP)
    store = open_store(pg_url)
    starters = [Runtime(open_store(pg_url)) for _ in range(2)]  # API-like nodes: they start, never run
    workers = [worker(pg_url, functions, tmp_path / f"w{i}.log") for i in range(2)]
    samples: list[int] = []
    stop = threading.Event()
    try:
        starters[0].register_flow("lim", FLOW)
        store.set_flow_limit("lim", 3, "$Input.c")
        # 24 starts from two nodes at once: the cap holds from the first transaction on
        barrier = threading.Barrier(8)

        def start(index: int) -> None:
            barrier.wait()
            for j in range(3):
                n = index * 3 + j
                starters[index % 2].start_execution("lim", {"c": f"k{n % 4}"}, f"e{n}")

        threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert running(store, "lim") == 3 and store.count_executions("lim", "Starting") == 21

        def sample() -> None:
            while not stop.is_set():
                samples.append(running(store, "lim"))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for node in workers:
            node.wait_ready(90)
        deadline = time.monotonic() + 180
        while store.count_executions("lim", "Succeeded") < 6:
            assert time.monotonic() < deadline, "no progress before the kill"
            time.sleep(0.05)
        workers[0].kill()  # with executions in flight: their slots must come back
        deadline = time.monotonic() + 300
        while store.count_executions("lim", "Succeeded") < 24:
            assert time.monotonic() < deadline, (
                f"{store.count_executions('lim', 'Succeeded')} of 24 succeeded, "
                f"{running(store, 'lim')} running, {store.count_executions('lim', 'Starting')} waiting")
            time.sleep(0.1)
        stop.set()
        sampler.join()
        assert max(samples) <= 3 and len(samples) > 10
        assert store.waiting_executions() == {}
        assert workers[1].proc.poll() is None
    finally:
        stop.set()
        for node in workers:
            node.stop()
        for starter in starters:
            starter.store.close()
        store.close()
