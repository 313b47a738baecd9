"""Workers: round trips through the built-in queue with the ``stateway.worker`` library, and the
heartbeat storm (10,000 open tasks each beating).

Round trip: an execution starts, its Task sends a message to ``mns://`` and waits; a library worker
(4 threads, in this process) receives it over HTTP, reports success over HTTP, and the execution
goes on to its next state and ends. Measured per execution, one at a time: start → end.

Heartbeat storm: ``tasks`` executions wait on tasks with ``HeartbeatSeconds``; each task then gets
one heartbeat through the service layer (token check + the one UPDATE; from 8 threads, as API request
threads, whose heartbeats share commits), and, separately, through the HTTP API from 8 client
threads. Reported: heartbeats per second, CPU milliseconds per heartbeat in this process, and the
share of one core that 10,000 tasks beating once a second would take at the service layer.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from typing import Any

from bench.scenarios import KEY_ID, SECRET, percentile, runtime_on_disk, wait_until

ROUND_TRIP_FDL = """Type: StateMachine
SpecVersion: v1
Name: roundtrip
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 60
    Parameters:
      resourceArn: acs:mns:::/queues/bench-rt/messages
      message:
        n.$: $Input.n
        taskToken.$: $Context.Current.TaskToken
    Next: Next
  - Type: Pass
    Name: Next
    End: true
"""

STORM_FDL = """Type: StateMachine
SpecVersion: v1
Name: storm
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 3600
    HeartbeatSeconds: 600
    Parameters:
      resourceArn: acs:mns:::/queues/bench-storm/messages
      message:
        taskToken.$: $Context.Current.TaskToken
    End: true
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def mns_round_trip_ms(rounds: int) -> dict[str, float]:
    from stateway.api import BackgroundServer, create_app
    from stateway.worker import Worker

    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    with runtime_on_disk() as runtime:
        app = create_app(runtime, {KEY_ID: SECRET})
        server = BackgroundServer(app).start()
        worker = Worker(server.endpoint, KEY_ID, SECRET, concurrency=4, poll_seconds=5)

        @worker.task("mns://bench-rt")
        def answer(task: Any) -> dict[str, Any]:
            return {"n": task.message["n"]}

        thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
        try:
            runtime.register_flow("roundtrip", ROUND_TRIP_FDL)
            thread.start()
            samples = []
            for n in range(rounds + 10):
                began = time.perf_counter()
                row = runtime.start_execution("roundtrip", {"n": n})
                end = runtime.wait(row.id, 60)
                if end.status != "Succeeded":
                    raise RuntimeError(f"round trip {n} ended {end.status}: {end.error} {end.cause}")
                if n >= 10:  # the first ones warm up connections and the queue
                    samples.append((time.perf_counter() - began) * 1000)
            return {"p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99),
                    "per_s": 1000 / (sum(samples) / len(samples)), "rounds": rounds}
        finally:
            worker.stop()
            thread.join(timeout=30)
            server.stop()
            app.state.service.close()


def heartbeat_storm(tasks: int, http_sample: int = 2_000) -> dict[str, float]:
    from stateway.api import BackgroundServer, create_app
    from stateway.app import Stateway
    from stateway.worker._client import FlowClient

    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    with runtime_on_disk() as runtime:
        runtime.register_flow("storm", STORM_FDL)
        for i in range(tasks):
            runtime.start_execution("storm", {}, f"s{i}")
        wait_until(lambda: len(runtime.store.open_tasks()) >= tasks and not runtime.store.pending_outbox(), 1800)
        tokens = [t["token"] for t in runtime.store.open_tasks()]
        service = Stateway(runtime).tasks

        def beat_all(chunk: list[str]) -> None:
            for token in chunk:
                service.heartbeat(token)

        # as an API node sees them: from many request threads at once (they share commits)
        def storm_round() -> tuple[float, float]:
            threads = [threading.Thread(target=beat_all, args=(tokens[i::8],)) for i in range(8)]
            cpu, wall = _cpu(), time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return _cpu() - cpu, time.perf_counter() - wall

        storm_round()  # the first beat of each task; a storm is every task beating again and again
        cpu, wall = storm_round()
        result = {"open_tasks": len(tokens), "service_per_s": len(tokens) / wall,
                  "service_cpu_ms": cpu * 1000 / len(tokens),
                  "core_share_10k_per_s": cpu / len(tokens) * 10_000}
        app = create_app(runtime, {KEY_ID: SECRET})
        server = BackgroundServer(app).start()
        try:
            sample = tokens[:http_sample]
            chunks = [sample[i::8] for i in range(8)]

            def beat(chunk: list[str]) -> None:
                client = FlowClient(server.endpoint, KEY_ID, SECRET)
                for token in chunk:
                    client.heartbeat(token)
                client.close()

            threads = [threading.Thread(target=beat, args=(c,)) for c in chunks]
            cpu, wall = _cpu(), time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cpu, wall = _cpu() - cpu, time.perf_counter() - wall
            result.update({"http_per_s": len(sample) / wall, "http_cpu_ms_with_clients": cpu * 1000 / len(sample)})
        finally:
            server.stop()
            app.state.service.close()
        still_open = len(runtime.store.open_tasks())
        if still_open != tasks:
            raise RuntimeError(f"{tasks - still_open} tasks closed during the storm")
        return result


def heartbeat_storm_pg(tasks: int) -> dict[str, float]:
    """The steady-state storm on PostgreSQL: heartbeats/s from 8 threads of one API node, and CPU per
    heartbeat in this process and in PostgreSQL's processes."""
    from bench.pg import _postgres_cpu, cluster
    from stateway.app import Stateway
    from stateway.runtime import Runtime
    from stateway.store import open_store

    with cluster() as pg:
        runtime = Runtime(open_store(pg.new_database())).start()
        try:
            runtime.register_flow("storm", STORM_FDL)
            for i in range(tasks):
                runtime.start_execution("storm", {}, f"s{i}")
            wait_until(lambda: len(runtime.store.open_tasks()) >= tasks and not runtime.store.pending_outbox(), 1800)
            tokens = [t["token"] for t in runtime.store.open_tasks()]
            service = Stateway(runtime).tasks

            def storm_round() -> tuple[float, float, float]:
                threads = [threading.Thread(target=lambda c=tokens[i::8]: [service.heartbeat(t) for t in c])
                           for i in range(8)]
                cpu, pg_cpu, wall = _cpu(), _postgres_cpu(), time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                return _cpu() - cpu, _postgres_cpu() - pg_cpu, time.perf_counter() - wall

            storm_round()
            cpu, pg_cpu, wall = storm_round()
            return {"open_tasks": len(tokens), "per_s": len(tokens) / wall, "node_cpu_ms": cpu * 1000 / len(tokens),
                    "postgres_cpu_ms": pg_cpu * 1000 / len(tokens)}
        finally:
            runtime.close()
            runtime.store.close()
