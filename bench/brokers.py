"""``brokers.*`` figures: a task's round trip through a real broker.

A flow's WaitForCustomCallback task publishes with RabbitMQ/Redis/NATS:SendMessage; a consumer
(the worker's source for that broker, ``stateway.worker._amqp/_redis/_nats``) receives the message,
reports the token (in process) and acknowledges; the execution enters its next state. Measured:
the latency from StartExecution to that next state, one execution at a time (p50, p99), and
tasks/s with many executions at once. Each broker is a real server started for the run on a free
port; a broker whose server is not installed is left out.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: {action}
    TaskMode: WaitForCustomCallback
    Timeout: 60
    Parameters: {params}
    Next: After
  - Type: Pass
    Name: After
    End: true
"""
KINDS = {"rabbitmq": ("RabbitMQ:SendMessage", "amqp"), "redis": ("Redis:SendMessage", "redis"),
         "nats": ("NATS:SendMessage", "nats")}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def _server(kind: str) -> Iterator[Any]:
    from tests.brokers.servers import SERVERS

    with tempfile.TemporaryDirectory() as tmp:
        server = SERVERS[kind](os.path.join(tmp, kind)).start()
        try:
            yield server
        finally:
            server.close()


def _setup(kind: str, url: str, name: str) -> tuple[str, dict[str, Any]]:
    """The source URI and the task's Parameters for ``kind``."""
    if kind == "rabbitmq":
        return f"{url}?queue={name}&prefetch=64", {"routingKey": name, "message": {"n": 1}}
    if kind == "redis":
        return f"{url}?stream={name}&group=bench", {"stream": name, "message": {"n": 1}}
    return f"{url}?subject={name}.jobs&stream={name.upper()}", {"subject": f"{name}.jobs", "message": {"n": 1}}


class _Consumer:
    """What a worker does, minus the handler: receive, report, acknowledge."""

    def __init__(self, source: Any, runtime: Any) -> None:
        self.source = source
        self.runtime = runtime
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            for delivery in self.source.receive(64, 0.2):
                self.runtime.report_success(json.loads(delivery.body)["taskToken"], {"ok": True})
                delivery.ack()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def round_trips(kind: str, rounds: int, burst: int) -> dict[str, float]:
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore
    from stateway.worker import _amqp, _nats, _redis

    action, _ = KINDS[kind]
    opener = {"rabbitmq": _amqp.open, "redis": _redis.open, "nats": _nats.open}[kind]
    with _server(kind) as server, tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(SQLiteStore(os.path.join(tmp, "bench.db")),
                          settings=Settings.from_config({"brokers": {"default": {"url": server.url}}})).start()
        entered: dict[int, float] = {}
        condition = threading.Condition()

        def listener(execution_id: int, events: list[dict[str, Any]]) -> None:
            if any(e.get("Type") == "StepEntered" and e.get("StepName") == "After" for e in events):
                with condition:
                    entered[execution_id] = time.perf_counter()
                    condition.notify_all()

        runtime.listeners.append(listener)
        uri, params = _setup(kind, server.url, "bench")
        source = opener(uri)
        consumer = _Consumer(source, runtime)
        try:
            runtime.register_flow("rt", FLOW.format(action=action, params=json.dumps(params)))
            samples = []
            for _ in range(rounds + 5):
                began = time.perf_counter()
                execution_id = runtime.start_execution("rt", {}).id
                with condition:
                    if not condition.wait_for(lambda eid=execution_id: eid in entered, timeout=60):
                        raise TimeoutError(f"{kind}: a round trip did not finish")
                samples.append((entered[execution_id] - began) * 1000)
            samples = samples[5:]  # the first few warm up connections and caches
            began = time.perf_counter()
            ids = [runtime.start_execution("rt", {}).id for _ in range(burst)]
            with condition:
                if not condition.wait_for(lambda: all(i in entered for i in ids), timeout=600):
                    raise TimeoutError(f"{kind}: the burst did not finish")
            seconds = max(entered[i] for i in ids) - began
            return {"p50_ms": statistics.median(samples), "p99_ms": _percentile(samples, 0.99),
                    "tasks_per_s": burst / seconds, "rounds": rounds, "burst": burst}
        finally:
            consumer.close()
            source.close()
            runtime.close()
            runtime.store.close()


def all_round_trips(rounds: int, burst: int, kinds: list[str]) -> dict[str, Any]:
    from tests.brokers.servers import missing

    results: dict[str, Any] = {}
    for kind in kinds:
        why = missing(kind)
        if why is not None:
            print(f"  brokers.{kind}: left out: {why}", flush=True)
            continue
        try:
            import_name = {"rabbitmq": "pika", "redis": "redis", "nats": "nats"}[kind]
            __import__(import_name)
        except ImportError:
            print(f"  brokers.{kind}: left out: pip install 'stateway[{kind}]'", flush=True)
            continue
        results[kind] = round_trips(kind, rounds, burst)
        print(f"  brokers.{kind}: {results[kind]}", flush=True)
    return results
