"""Several runtimes on one PostgreSQL database, in one process: schedules fire once, a database
restart mid-load loses nothing acknowledged, operations endpoints answer."""

from __future__ import annotations

import threading
import time

import httpx

from stateway.runtime import Runtime
from stateway.runtime._cron import Cron
from stateway.settings import Settings
from stateway.store import StoreUnavailable, open_store

PASS = """Type: StateMachine
Name: tick
SpecVersion: v1
StartAt: A
States:
  - Type: Pass
    Name: A
    End: true
"""
WAITS = """Type: StateMachine
Name: waits
SpecVersion: v1
StartAt: Pause
States:
  - {Type: Wait, Name: Pause, Seconds: 1, Next: Done}
  - Type: Pass
    Name: Done
    OutputConstructor: {n.$: $Input.n}
    End: true
"""


def _runtimes(pg_url: str, count: int, **settings) -> list[Runtime]:
    return [Runtime(open_store(pg_url), settings=Settings.from_config(settings, lease_seconds=2), sweep_interval=0.5).start()
            for _ in range(count)]


def _close(runtimes: list[Runtime]) -> None:
    for runtime in runtimes:
        runtime.close()
        runtime.store.close()


def test_a_schedule_fires_once_per_firing_with_two_workers(pg_url):
    runtimes = _runtimes(pg_url, 2)
    try:
        store = runtimes[0].store
        runtimes[0].register_flow("tick", PASS)
        now = time.time()
        store.put_schedule({"flow_name": "tick", "name": "every-second", "id": "1", "cron": "* * * * * *",
                            "description": "", "enable": True, "payload": "{}", "created": now, "modified": now,
                            "next_fire": Cron.parse("* * * * * *").next_after(now)}, create=True)
        time.sleep(3.6)
        store.put_schedule({**store.get_schedule("tick", "every-second"), "enable": False}, create=False)
        time.sleep(0.5)
        names = [r.name for r in store.list_executions(flow_name="tick")]
        assert len(names) >= 3
        moments = sorted(int(n.rsplit("-", 1)[1]) for n in names)
        assert moments == list(range(moments[0], moments[0] + len(moments)))  # one per second, none skipped
        assert len(set(names)) == len(names)
    finally:
        _close(runtimes)


def test_postgres_restart_mid_load_loses_no_acknowledged_start(pg_cluster, pg_url):
    runtimes = _runtimes(pg_url, 2)
    acknowledged: list[int] = []
    refused = 0
    stop = threading.Event()
    try:
        runtimes[0].register_flow("waits", WAITS)

        def client() -> None:
            nonlocal refused
            n = 0
            while not stop.is_set():
                try:
                    runtimes[n % 2].start_execution("waits", {"n": n}, f"w{n}")
                    acknowledged.append(n)
                except StoreUnavailable:
                    refused += 1  # not acknowledged: the caller knows it must try again
                    time.sleep(0.05)
                n += 1
                time.sleep(0.01)

        thread = threading.Thread(target=client)
        thread.start()
        time.sleep(1.0)
        pg_cluster.restart()
        time.sleep(1.0)
        stop.set()
        thread.join()
        assert acknowledged  # during the restart, calls wait for a connection (or are refused: not acknowledged)
        store = runtimes[1].store
        deadline = time.monotonic() + 60
        while store.count_executions("waits", "Succeeded") < len(acknowledged):
            assert time.monotonic() < deadline, (store.count_executions("waits", "Succeeded"), len(acknowledged))
            time.sleep(0.1)
        for n in acknowledged:
            row = store.find_execution("waits", f"w{n}")
            assert row.status == "Succeeded" and row.output == {"n": n}
            assert [e["Type"] for e in store.history(row.id)].count("StepEntered") == 2
    finally:
        stop.set()
        _close(runtimes)


def test_operations_endpoints(pg_url):
    from stateway.api import BackgroundServer
    from stateway.api._ops import ops_app

    runtimes = _runtimes(pg_url, 1)
    server = BackgroundServer(ops_app(runtimes[0])).start()
    try:
        runtimes[0].register_flow("tick", PASS)
        row = runtimes[0].start_execution("tick", {})
        runtimes[0].wait(row.id, 10)
        base = f"http://{server.endpoint}"
        assert httpx.get(f"{base}/healthz").json()["status"] == "alive"
        assert httpx.get(f"{base}/readyz").status_code == 200
        text = httpx.get(f"{base}/metrics").text
        for name in ("stateway_executions_started_total", "stateway_executions_ended_total",
                     "stateway_decision_seconds_bucket", "stateway_outbox_depth", "stateway_due_work_lag_seconds",
                     "stateway_lease_takeovers", "stateway_queue_depth"):
            assert name in text, name
        assert 'stateway_executions_ended_total{status="Succeeded"}' in text
    finally:
        server.stop()
        _close(runtimes)


def test_readyz_says_unavailable_when_the_store_is_away():
    from stateway.api import BackgroundServer
    from stateway.api._ops import ops_app

    class Away:
        shared = False

        def ping(self) -> bool:
            raise StoreUnavailable("PostgreSQL is unavailable: connection refused")

    class Fake:
        owner = "x"
        store = Away()

    server = BackgroundServer(ops_app(Fake())).start()  # type: ignore[arg-type]
    try:
        response = httpx.get(f"http://{server.endpoint}/readyz")
    finally:
        server.stop()
    assert response.status_code == 503 and "connection refused" in response.json()["detail"]
