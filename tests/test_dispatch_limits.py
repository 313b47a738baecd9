"""Bounded concurrency per integration (issue 20 §1): slow HTTP tasks hold their own pool, never
the function calls' or the engine's; the excess waits with its outbox row kept; cancels get past a
full pool. The figure itself (p50 against quiet) is in the benchmark suite (bench/isolation.py)."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from stateway.runtime._dispatch_limits import DispatchLimits
from tests.drip_server import DripServer, wait_until
from tests.shared_flows import FUNCTION_CALL as FAST
from tests.shared_flows import QUICK_HANDLER as QUICK
from tests.shared_flows import SLOW_HTTP as SLOW


@pytest.fixture
def server():
    server = DripServer("127.0.0.1", body_bytes=3600)
    yield server
    server.stop()


def latencies(runtime, count: int) -> list[float]:
    out = []
    for _ in range(count):
        began = time.monotonic()
        row = runtime.wait(runtime.start_execution("fast", {}).id, 120)
        assert row.status == "Succeeded", row
        out.append(time.monotonic() - began)
    return out


def stop_all(runtime, ids: list[int]) -> None:
    for execution_id in ids:
        runtime.stop_execution(execution_id)
    # each cancel reaches its request in flight, though the HTTP pool is full and has a queue
    assert [runtime.wait(e, 60).status for e in ids] == ["Stopped"] * len(ids)


def test_slow_http_tasks_do_not_delay_function_calls(memory_runtime, server):
    runtime = memory_runtime({"quick": QUICK}, dispatch={"HTTP": 64})
    runtime.register_flow("fast", FAST)
    runtime.register_flow("slow", SLOW)
    latencies(runtime, 3)  # warm-up
    quiet = statistics.median(latencies(runtime, 15))
    slow = [runtime.start_execution("slow", {"url": f"http://{server.endpoint}/drip"}).id for _ in range(100)]
    try:
        assert wait_until(lambda: server.dripping == 64, 60), server.dripping  # the HTTP pool is full
        loaded = statistics.median(latencies(runtime, 15))
        full = {"limit": 64, "running": 64, "waiting": 36}
        assert wait_until(lambda: runtime._pool.load().get("http") == full, 60), runtime._pool.load()
        # the 36 waiting keep their outbox rows: a crash now loses none of them
        assert len([r for r in runtime.store.pending_outbox() if r[2].get("action") == "HTTP:Request"]) == 100
        assert server.dripping == 64
    finally:
        stop_all(runtime, slow)
    # before the pools were split, the calls waited for the slow ones (600 s); 20x quiet is a hang detector
    assert loaded < max(20 * quiet, 2.0), (quiet, loaded)


def test_a_configured_limit_bounds_one_integration(memory_runtime, server):
    runtime = memory_runtime(dispatch={"HTTP": 3})
    runtime.register_flow("slow", SLOW)
    slow = [runtime.start_execution("slow", {"url": f"http://{server.endpoint}/drip"}).id for _ in range(5)]
    try:
        assert wait_until(lambda: runtime._pool.load().get("http") == {"limit": 3, "running": 3, "waiting": 2}, 60)
        assert wait_until(lambda: server.dripping == 3, 30)
        time.sleep(0.5)
        assert server.dripping == 3  # no more than the limit, however long one waits
        runtime.stop_execution(slow[0])
        assert runtime.wait(slow[0], 30).status == "Stopped"
        assert wait_until(lambda: runtime._pool.load()["http"]["waiting"] == 1, 30)  # a waiting one took its place
    finally:
        stop_all(runtime, slow[1:])


def test_which_pool_and_how_large():
    shared = ThreadPoolExecutor(1)
    limits = DispatchLimits(shared, {"HTTP": 8, "fc:InvokeFunction": 2}, 64,
                            lambda action: 5 if action == "AMQP:Publish" else None)
    try:
        assert limits.key_and_limit("HTTP:Request") == ("http", 8)
        assert limits.key_and_limit("FC:InvokeFunction") == ("fc:invokefunction", 2)
        assert limits.key_and_limit("FC:Other") == ("fc", 64)
        assert limits.key_and_limit("AMQP:Publish") == ("amqp", 5)  # the integration's own default
        assert limits.key_and_limit("MNS:SendMessage") == ("mns", 64)
        # not invocations: the shared pool, never behind the invocations they are about
        assert limits.submit(lambda *a: "shared", 1, 2, {"kind": "cancel", "action": "HTTP:Request"}).result() == "shared"
        assert limits.submit(lambda *a: "inv", 1, 2, {"kind": "invoke", "action": "HTTP:Request"}).result() == "inv"
        assert set(limits.load()) == {"http"}
    finally:
        limits.shutdown()
    with pytest.raises(RuntimeError):
        limits.submit(lambda *a: None, 1, 2, {"kind": "invoke", "action": "HTTP:Request"})
