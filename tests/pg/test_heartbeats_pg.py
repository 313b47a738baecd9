"""Heartbeats on PostgreSQL: the deadline is a timer row, so it moves with one UPDATE from any node and
fires on whichever engine holds the work, after the one that opened the task has gone."""

from __future__ import annotations

import time

import pytest

FLOW = """Type: StateMachine
SpecVersion: v1
Name: hbpg
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 60
    HeartbeatSeconds: 2
    CorrelationKey.$: $Input.id
    Parameters:
      resourceArn: acs:mns:::/queues/hbpg/messages
      message:
        taskToken.$: $Context.Current.TaskToken
    End: true
"""


@pytest.mark.timeout(300)
def test_the_heartbeat_deadline_survives_a_takeover(pg_url):
    from stateway.app import Stateway
    from stateway.runtime import Runtime
    from stateway.store import open_store

    first = Runtime(open_store(pg_url)).start()
    first.register_flow("hbpg", FLOW)
    row = first.start_execution("hbpg", {"id": "k-1"}, "taken-over")
    deadline = time.monotonic() + 60
    while not first.store.task_by_key("hbpg", "k-1"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.close()
    first.store.close()

    second = Runtime(open_store(pg_url)).start()
    try:
        tasks = Stateway(second).tasks
        token = tasks.token_for_key("hbpg", "k-1")
        for _ in range(6):  # 3 s of beats through the other node: past the window, still open
            assert tasks.heartbeat(token) == 2
            time.sleep(0.5)
        assert second.store.execution_status(row.id) == "Running"
        end = second.wait(row.id, 60)  # no more beats: it fires here
        assert end.status == "Failed" and end.error == "FnF.HeartbeatTimeout"
    finally:
        second.close()
        second.store.close()
