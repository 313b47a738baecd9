"""stateway.worker against a served Stateway (the built-in queue, mns://): results, failures, dead
letters, tasks answered elsewhere, heartbeats, correlation keys."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from stateway.worker import Task, TaskFailure
from tests.worker.helpers import Running, create_flow, flow_text, make_worker, output_of, wait_for


def finished(server, execution_id: int, timeout: float = 60):
    runtime = server.runtime
    row = runtime.wait(execution_id, timeout)
    assert row.status != "Running", f"execution {row.name} still running"
    return row


def test_results_failures_and_exceptions_are_reported(server):
    name = create_flow(server, flow_text("lib", "lib-q"))
    worker = make_worker(server, concurrency=4)
    seen: list[int] = []

    @worker.task("mns://lib-q")
    def handle(task: Task):
        seen.append(task.attempt)
        n = task.message["n"]
        if n == 1:
            raise TaskFailure("Approval.TooLarge", "over the limit")
        if n == 2:
            raise KeyError("boom")
        if n == 3:
            return None
        return {"double": n * 2}

    with Running(worker):
        rows = [server.runtime.start_execution(name, {"n": n}, f"e{n}") for n in (1, 2, 3, 5)]
        ends = {row.name: finished(server, row.id) for row in rows}
    assert ends["e1"].status == "Failed" and ends["e1"].error == "Approval.TooLarge"
    assert ends["e1"].cause == "over the limit"
    assert ends["e2"].status == "Failed" and ends["e2"].error == "KeyError"
    assert ends["e2"].cause.startswith("KeyError: 'boom'\nTraceback (most recent call last):")
    assert 'raise KeyError("boom")' in ends["e2"].cause
    assert ends["e3"].status == "Succeeded" and output_of(ends["e3"]) == {}
    assert ends["e5"].status == "Succeeded" and output_of(ends["e5"]) == {"double": 10}
    assert seen == [1, 1, 1, 1]
    assert server.runtime.store.get_queue("lib-q")["active"] + server.runtime.store.get_queue("lib-q")["inactive"] == 0


def test_async_handlers_run_on_an_event_loop(server):
    name = create_flow(server, flow_text("alib", "alib-q"))
    worker = make_worker(server, concurrency=8)

    @worker.task("mns://alib-q")
    async def handle(task):
        await asyncio.sleep(0.2)
        return {"n": task.message["n"], "loop": asyncio.get_running_loop() is not None}

    with Running(worker):
        rows = [server.runtime.start_execution(name, {"n": n}) for n in range(8)]
        ends = [finished(server, row.id) for row in rows]
    assert [output_of(r) for r in ends] == [{"n": n, "loop": True} for n in range(8)]


def test_a_task_answered_elsewhere_first_is_acknowledged_and_the_worker_goes_on(server):
    name = create_flow(server, flow_text("first", "first-q"))
    row = server.runtime.start_execution(name, {"n": 1}, "answered")
    token = wait_for(lambda: server.runtime.store.open_tasks(row.id), what="the open task")[0]["token"]
    wait_for(lambda: server.runtime.store.get_queue("first-q"), what="the queue")
    server.runtime.report_success(token, {"by": "cli"})
    assert finished(server, row.id).status == "Succeeded"
    worker = make_worker(server)

    @worker.task("mns://first-q")
    def handle(task):
        return {"by": "worker"}

    with Running(worker):
        wait_for(lambda: worker.stats["ended"] == 1, what="the leftover message")
        later = server.runtime.start_execution(name, {"n": 2}, "later")
        assert output_of(finished(server, later.id)) == {"by": "worker"}
    info = server.runtime.store.get_queue("first-q")
    assert info["active"] + info["inactive"] == 0
    assert output_of(server.runtime.store.get_execution(row.id)) == {"by": "cli"}


def test_messages_without_a_token_are_dead_lettered(server):
    from stateway.app import Queues

    queues = Queues(server.runtime.store)
    queues.send("dl-q", "not json at all", create=True)
    queues.send("dl-q", json.dumps({"no": "token"}))
    worker = make_worker(server)
    handled = []

    @worker.task("mns://dl-q")
    def handle(task):
        handled.append(task)
        return {}

    with Running(worker):
        wait_for(lambda: worker.stats["dead_lettered"] == 2, what="two dead letters")
    assert handled == []
    assert sorted(m.body for m in queues.peek("dl-q-dead", 10)) == ["not json at all", '{"no": "token"}']
    from tests.test_serve_cli import stateway

    listed = json.loads(stateway("queue", "list", "--json", "--db", server.runtime.store.path).stdout)
    assert {"Name": "dl-q-dead", "Messages": 2} in listed  # `stateway queue list` counts the dead letters
    assert queues.get("dl-q")["active"] + queues.get("dl-q")["inactive"] == 0


def test_a_message_delivered_max_deliveries_times_is_dead_lettered(server):
    from stateway.app import Queues

    queues = Queues(server.runtime.store)
    queues.send("poison", json.dumps({"taskToken": "sw1.x.y"}), create=True)
    for _ in range(3):  # three deliveries whose worker died before reporting
        queues.receive("poison", visibility=1)
        time.sleep(1.1)
    worker = make_worker(server, max_deliveries=3)

    @worker.task("mns://poison")
    def handle(task):
        raise AssertionError("a poison message must not reach its handler again")

    with Running(worker):
        wait_for(lambda: worker.stats["dead_lettered"] == 1, what="the dead letter")
    assert [m.body for m in queues.peek("poison-dead", 10)] == ['{"taskToken": "sw1.x.y"}']


def test_hanging_handler_fails_its_task_with_heartbeat_timeout_caught_by_catch(server):
    name = create_flow(server, flow_text("hang", "hang-q", heartbeat="HeartbeatSeconds: 2", catch=True))
    worker = make_worker(server, shutdown_seconds=1)
    release = []

    @worker.task("mns://hang-q", auto_heartbeat=False)
    def handle(task):
        task.heartbeat()  # alive at first
        while not release:
            time.sleep(0.05)  # then hangs
        return {}

    with Running(worker):
        row = server.runtime.start_execution(name, {"n": 1}, "hung")
        end = finished(server, row.id, timeout=60)
        release.append(True)
    assert end.status == "Succeeded", (end.error, end.cause)
    assert output_of(end)["missed"]["Code"] == "FnF.HeartbeatTimeout"
    timed_out = [e for e in server.runtime.store.history(row.id) if e["Type"] == "TaskTimedOut"]
    assert [e["EventDetail"]["error"] for e in timed_out] == ["FnF.HeartbeatTimeout"]


def test_a_handler_blocked_in_one_call_gets_no_automatic_beats(server):
    """Automatic beats prove progress: a handler stuck in one call (no CPU, not moving) for a whole
    beat interval is hung, so with the default options its task still times out."""
    name = create_flow(server, flow_text("stuck", "stuck-q", heartbeat="HeartbeatSeconds: 2", catch=True))
    worker = make_worker(server, shutdown_seconds=1)
    release = threading.Event()

    @worker.task("mns://stuck-q")
    def handle(task):
        release.wait(120)  # blocked: never wakes until released
        return {}

    with Running(worker):
        row = server.runtime.start_execution(name, {"n": 1}, "stuck")
        end = finished(server, row.id, timeout=60)
        release.set()
    assert end.status == "Succeeded", (end.error, end.cause)
    assert output_of(end)["missed"]["Code"] == "FnF.HeartbeatTimeout"


def test_automatic_heartbeats_keep_a_slow_handler_alive(server):
    name = create_flow(server, flow_text("slow", "slow-q", heartbeat="HeartbeatSeconds: 2"))
    worker = make_worker(server)

    @worker.task("mns://slow-q")
    def handle(task):
        assert task.heartbeat_seconds == 2
        for _ in range(100):  # working: short waits, so its thread keeps waking
            time.sleep(0.05)
        return {"slow": True}

    with Running(worker):
        row = server.runtime.start_execution(name, {"n": 1})
        end = finished(server, row.id)
    assert end.status == "Succeeded" and output_of(end) == {"slow": True}


def test_reports_by_correlation_key(server):
    from stateway.app import Stateway
    from stateway.runtime import TaskAlreadyCompleted

    name = create_flow(server, flow_text("keyed", "keyed-q", key="$Input.orderId"))
    tasks = Stateway(server.runtime).tasks
    first = server.runtime.start_execution(name, {"n": 1, "orderId": "o-1"}, "k1")
    wait_for(lambda: server.runtime.store.task_by_key(name, "o-1"), what="the key's claim")
    duplicate = server.runtime.start_execution(name, {"n": 2, "orderId": "o-1"}, "k2")
    end = finished(server, duplicate.id)
    assert end.status == "Failed" and end.error == "FnF.DuplicateCorrelationKey"
    listed, _ = tasks.list_open(name)
    assert [(t.execution_name, t.key) for t in listed] == [("k1", "o-1")]
    assert tasks.heartbeat(tasks.token_for_key(name, "o-1")) == 0
    server.runtime.report_success(tasks.token_for_key(name, "o-1"), {"shipped": True})
    assert output_of(finished(server, first.id)) == {"shipped": True}
    with pytest.raises(TaskAlreadyCompleted):
        tasks.token_for_key(name, "o-1")
    again = server.runtime.start_execution(name, {"n": 3, "orderId": "o-1"}, "k3")  # the key is free again
    wait_for(lambda: (server.runtime.store.task_by_key(name, "o-1") or (0, "", "", False))[1] == "k3", what="k3's claim")
    message = json.loads(wait_for(lambda: __import__("stateway.app", fromlist=["Queues"]).Queues(
        server.runtime.store).peek("keyed-q", 10), what="messages")[-1].body)
    assert message["correlationKey"] == "o-1"
    server.runtime.report_failure(tasks.token_for_key(name, "o-1"), "Order.Lost", "")
    assert finished(server, again.id).error == "Order.Lost"


def test_task_key_comes_from_the_message_or_else_from_the_server(server):
    with_field = flow_text("kf", "kf-q", key="$Input.orderId")
    without = flow_text("kn", "kn-q", key="$Input.orderId").replace(
        "        correlationKey.$: $Context.Current.CorrelationKey\n", "")
    assert "correlationKey" not in without
    create_flow(server, with_field)
    create_flow(server, without)
    worker = make_worker(server)

    @worker.task("mns://kf-q")
    @worker.task("mns://kn-q")
    def handle(task):
        return {"key": task.key, "window": task.heartbeat_seconds}

    with Running(worker):
        a = server.runtime.start_execution("kf", {"n": 1, "orderId": "A-1"})
        b = server.runtime.start_execution("kn", {"n": 2, "orderId": 42})
        ends = [finished(server, a.id), finished(server, b.id)]
    assert [output_of(e)["key"] for e in ends] == ["A-1", "42"]
    assert output_of(ends[1])["window"] == 0  # learned from the heartbeat that asked for the key
