"""Flows and helpers for the worker tests: a served Stateway (the ``server`` fixture) and Workers
run on a thread of the test process."""

from __future__ import annotations

import json
import threading
import time

from stateway.worker import Worker
from tests.api.fixtures import KEY_ID, SECRET


def flow_text(name: str, queue: str, *, heartbeat: str = "", key: str = "", timeout: int = 60,
              catch: bool = False) -> str:
    extra = ""
    if heartbeat:
        extra += f"\n    {heartbeat}"
    if key:
        extra += f"\n    CorrelationKey.$: {key}"
    catch_text = """
    Catch:
      - Errors: [FnF.HeartbeatTimeout]
        Next: Missed""" if catch else ""
    end = "Next: Done" if catch else "End: true"
    text = f"""Type: StateMachine
SpecVersion: v1
Name: {name}
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: {timeout}{extra}
    Parameters:
      resourceArn: acs:mns:::/queues/{queue}/messages
      message:
        n.$: $Input.n
        taskToken.$: $Context.Current.TaskToken
        heartbeatSeconds.$: $Context.Current.HeartbeatSeconds
        correlationKey.$: $Context.Current.CorrelationKey{catch_text}
    {end}
"""
    if catch:
        text += """  - Type: Pass
    Name: Missed
    OutputConstructor:
      missed.$: $Input
    End: true
  - Type: Pass
    Name: Done
    End: true
"""
    return text


def create_flow(server, definition: str) -> str:
    name = definition.split("Name: ", 1)[1].split("\n", 1)[0]
    server.runtime.register_flow(name, definition)
    return name


def make_worker(server, **options) -> Worker:
    options.setdefault("poll_seconds", 1)
    options.setdefault("shutdown_seconds", 10)
    return Worker(server.endpoint, KEY_ID, SECRET, **options)


class Running:
    """A Worker on a thread, stopped at the end."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)

    def __enter__(self) -> Worker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the worker did not stop"


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def output_of(row) -> dict:
    return json.loads(row.output) if isinstance(row.output, str) else row.output
