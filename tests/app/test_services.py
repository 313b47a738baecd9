"""The application services (stateway.app) on their own: the rules the API, console and CLI share."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from stateway.app import Queues, Stateway
from stateway.app.errors import (
    ExecutionNotExists,
    FlowNotExists,
    InvalidArgument,
    MessageNotExists,
    QueueAlreadyExists,
    QueueNotExists,
    ReceiptHandleError,
    TaskAlreadyCompleted,
)
from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore

PASS = """Type: StateMachine
SpecVersion: v1
Name: p
StartAt: A
States:
  - Type: Pass
    Name: A
    OutputConstructor:
      doubled.$: $Input.n * 2
    End: true
"""

WAIT = """Type: StateMachine
SpecVersion: v1
Name: w
StartAt: W
States:
  - Type: Wait
    Name: W
    Seconds: 300
    End: true
"""

APPROVAL = """Type: StateMachine
SpecVersion: v1
Name: approval
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Timeout: 600
    Parameters:
      resourceArn: acs:mns:::/queues/approvals/messages
      message: {token.$: $Context.Current.TaskToken, order.$: $Input.order}
    End: true
"""


@pytest.fixture
def sw():
    runtime = Runtime(SQLiteStore.in_memory(), settings=Settings.from_config({"express": {"keep": 3}})).start()
    app = Stateway(runtime, express_keep=3)
    yield app
    app.close()
    runtime.close()


# -- flows ----------------------------------------------------------------------------------------
def test_a_flow_gets_cloudflows_defaults_and_its_mode_is_checked(sw):
    flow = sw.flows.create("p", PASS, description="doubles")
    assert flow["meta"] == {"Type": "FDL", "ExecutionMode": "Standard", "Description": "doubles"}
    with pytest.raises(InvalidArgument, match="ExecutionMode must be Standard or Express"):
        sw.flows.create("q", PASS, {"ExecutionMode": "Turbo"})
    with pytest.raises(InvalidArgument, match="unknown flow settings"):
        sw.flows.create("q", PASS, {"Colour": "red"})
    with pytest.raises(InvalidArgument, match="must match"):
        sw.flows.create("bad name", PASS)
    updated = sw.flows.update("p", description="twice")
    assert updated["definition"] == PASS and updated["meta"]["Description"] == "twice"
    assert sw.flows.exists("p") and not sw.flows.exists("q")


def test_versions_and_aliases_check_their_routes(sw):
    sw.flows.create("p", PASS)
    assert sw.flows.publish_version("p", "first")["version"] == 1
    sw.flows.update("p", PASS.replace("* 2", "* 3"))
    sw.flows.publish_version("p")
    assert sw.flows.describe_version("p", 1)["definition"] == PASS
    with pytest.raises(InvalidArgument, match="different versions"):
        sw.flows.create_alias("p", "live", [{"Version": "1", "Weight": 50}, {"Version": 1, "Weight": 50}])
    with pytest.raises(InvalidArgument, match="above 0"):
        sw.flows.create_alias("p", "live", [{"Version": "1", "Weight": 0}])
    sw.flows.create_alias("p", "live", [{"Version": "2", "Weight": 100}])
    run = sw.executions.wait(sw.executions.start("p", {"n": 2}, "via-alias", qualifier="live"), 10)
    assert run.output == {"doubled": 6} and run.flow_version == "2"
    assert [r.name for r in sw.executions.list("p", qualifier="2")] == ["via-alias"]
    assert sw.executions.list("p", qualifier="1") == []


# -- executions -----------------------------------------------------------------------------------
def test_standard_and_express_starts_are_kept_apart(sw):
    sw.flows.create("p", PASS)
    sw.flows.create("x", PASS, express=True)
    with pytest.raises(InvalidArgument, match="is an Express flow"):
        sw.executions.start("x")
    with pytest.raises(InvalidArgument, match="is a Standard flow"):
        sw.executions.start_sync("p")
    assert sw.executions.start_sync("x", {"n": 21}).output == {"doubled": 42}
    for _ in range(5):
        sw.executions.start_sync("x", {"n": 1})
    assert len(sw.executions.express().store.list_executions()) <= 3  # pruned to express_keep


def test_start_sync_async_holds_no_thread_and_times_out(sw):
    sw.flows.create("x", PASS, express=True)
    sw.flows.create("slow", WAIT, express=True)
    assert asyncio.run(sw.executions.start_sync_async("x", {"n": 4})).output == {"doubled": 8}
    row = asyncio.run(sw.executions.start_sync_async("slow", timeout=0.2))
    assert (row.status, row.error) == ("Stopped", "FnF.Timeout")


def test_describe_stop_list_and_history(sw):
    with pytest.raises(FlowNotExists):
        sw.executions.describe("nope", "e")
    sw.flows.create("w", WAIT)
    with pytest.raises(ExecutionNotExists):
        sw.executions.describe("w", "e")
    row = sw.executions.start("w", name="e")
    assert sw.executions.start("w", name="e").id == row.id  # a repeated start finds the first
    time.sleep(0.2)
    assert sw.executions.current_steps(sw.executions.describe("w", "e")) == ["W"]
    with pytest.raises(InvalidArgument, match="not an execution status"):
        sw.executions.list("w", status="Sleeping")
    sw.executions.stop("w", "e", "Halt", "enough")
    ended = sw.executions.wait(row, 10)
    assert (ended.status, ended.error, ended.cause) == ("Stopped", "Halt", "enough")
    assert sw.executions.stop("w", "e").status == "Stopped"  # stopping what has ended changes nothing
    assert [r.name for r in sw.executions.list("w", status="Stopped")] == ["e"]
    types = [e["Type"] for e in sw.executions.history("w", "e")]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionStopped"


def test_wait_ended_wakes_on_the_end_not_on_the_recheck(sw):
    sw.flows.create("w", WAIT)
    row = sw.executions.start("w")
    sw.executions.recheck_seconds = 120

    async def scenario() -> float:
        waiting = asyncio.create_task(sw.executions.wait_ended(row.id, 30))
        await asyncio.sleep(0.2)
        began = time.monotonic()
        await asyncio.to_thread(sw.executions.stop, "w", row.name)
        assert (await waiting).status == "Stopped"
        return time.monotonic() - began

    assert asyncio.run(scenario()) < 20  # woken by the end, not the 120 s recheck (not a speed bound)


# -- schedules --------------------------------------------------------------------------------------
def test_schedules_parse_cron_and_time_the_next_firing(sw):
    sw.flows.create("p", PASS)
    with pytest.raises(InvalidArgument, match="CronExpression"):
        sw.schedules.create("p", "s", "every minute")
    with pytest.raises(InvalidArgument, match="Payload must be a JSON object"):
        sw.schedules.create("p", "s", "0 * * * * *", payload="[1]")
    before = time.time()
    schedule = sw.schedules.create("p", "s", "0 * * * * *", payload='{"n": 1}')
    assert before < schedule["next_fire"] <= before + 61 and schedule["next_fire"] % 60 == 0
    assert not schedule["enable"]
    updated = sw.schedules.update("p", "s", cron="*/5 * * * * *", enable=True)
    assert updated["enable"] and updated["next_fire"] % 5 == 0 and updated["next_fire"] <= time.time() + 5
    assert [s["name"] for s in sw.schedules.list("p")] == ["s"]
    with pytest.raises(FlowNotExists):
        sw.schedules.list("nope")


# -- tasks and queues, together: a flow asks for approval through a queue ---------------------------
def test_an_approval_through_the_queue_and_the_task_report(sw):
    sw.queues.create("approvals")
    sw.flows.create("approval", APPROVAL)
    received: list = []
    # a receive waiting before the message exists is woken by the flow's MNS:SendMessage task
    waiting = threading.Thread(target=lambda: received.extend(sw.queues.receive("approvals", wait_seconds=20)))
    sw.queues.recheck_seconds = 120
    waiting.start()
    time.sleep(0.2)
    began = time.monotonic()
    run = sw.executions.start("approval", {"order": "A-1"})
    waiting.join(timeout=30)
    assert received and time.monotonic() - began < 15  # woken by the send, before the 20 s poll ends
    message = json.loads(received[0].body)
    tasks, more = sw.tasks.list_open("approval")
    assert not more and len(tasks) == 1
    task = tasks[0]
    assert (task.step, task.mode, task.timeout_seconds, task.token) == ("Ask", "WaitForCustomCallback", 600,
                                                                         message["token"])
    assert task.timeout_at == pytest.approx(task.opened + 600)
    with pytest.raises(InvalidArgument, match="not a Stateway task token"):
        sw.tasks.succeed("tökén", {})
    sw.tasks.succeed(message["token"], {"approved": True})
    with pytest.raises(TaskAlreadyCompleted):
        sw.tasks.fail(message["token"], "Late")
    assert sw.executions.wait(run, 10).output == {"approved": True}
    assert sw.tasks.list_open() == ([], False)
    sw.queues.delete_message("approvals", received[0].receipt_handle)


def test_a_queue_from_a_store_alone(tmp_path):
    queues = Queues(SQLiteStore(str(tmp_path / "q.db")))
    with pytest.raises(QueueNotExists):
        queues.send("jobs", "x")
    assert queues.create("jobs", {"VisibilityTimeout": 5}) is True
    assert queues.create("jobs", {"VisibilityTimeout": 5}) is False
    with pytest.raises(QueueAlreadyExists):
        queues.create("jobs", {"VisibilityTimeout": 6})
    with pytest.raises(InvalidArgument, match="VisibilityTimeout should between 1 and 43200"):
        queues.create("other", {"VisibilityTimeout": 0})
    queues.send("jobs", "low", priority=16)
    queues.send("jobs", "high", priority=1)
    first = queues.receive("jobs", 2)
    assert [m.body for m in first] == ["high", "low"] and all(m.receipt_handle for m in first)
    assert queues.receive("jobs") == []  # hidden while being worked on
    handle, _ = queues.change_visibility("jobs", first[0].receipt_handle, 0)
    with pytest.raises(MessageNotExists):
        queues.delete_message("jobs", first[0].receipt_handle)  # superseded
    with pytest.raises(ReceiptHandleError):
        queues.delete_message("jobs", "not-a-handle")
    queues.delete_message("jobs", handle)
    assert queues.get("jobs")["active"] == 0 and queues.get("jobs")["inactive"] == 1


def test_a_waiting_receive_sleeps_until_a_send_or_a_delay_ends(tmp_path):
    queues = Queues(SQLiteStore(str(tmp_path / "q.db")))
    queues.recheck_seconds = 120  # only wake-ups end the waits early
    queues.create("jobs")
    later = threading.Timer(0.3, lambda: queues.send("jobs", "now"))
    began = time.monotonic()
    later.start()
    assert [m.body for m in queues.receive("jobs", wait_seconds=20)] == ["now"]
    assert time.monotonic() - began < 15  # woken by the send, before the 20 s poll ends (not a speed bound)
    queues.send("jobs", "soon", delay=1)
    began = time.monotonic()
    assert [m.body for m in queues.receive("jobs", wait_seconds=20)] == ["soon"]
    assert 0.8 < time.monotonic() - began < 15
    began = time.monotonic()
    assert queues.receive("jobs", wait_seconds=1) == []
    assert 0.9 < time.monotonic() - began < 15

    async def waiting() -> list:
        task = asyncio.create_task(queues.receive_async("jobs", wait_seconds=20))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(queues.send, "jobs", "async")
        return await task

    began = time.monotonic()
    assert [m.body for m in asyncio.run(waiting())] == ["async"]
    assert time.monotonic() - began < 15


def test_a_receive_on_postgres_wakes_on_another_process_send(pg_url):
    from stateway.store import open_store

    receiving_store, sending_store = open_store(pg_url), open_store(pg_url)
    try:
        receiving, sending = Queues(receiving_store), Queues(sending_store)
        receiving.recheck_seconds = 120  # only the NOTIFY can end the wait early
        receiving.create("jobs")
        threading.Timer(0.5, lambda: sending.send("jobs", "from afar")).start()
        began = time.monotonic()
        assert [m.body for m in receiving.receive("jobs", wait_seconds=20)] == ["from afar"]
        assert time.monotonic() - began < 15  # woken by the NOTIFY, before the 20 s poll ends
    finally:
        receiving_store.close()
        sending_store.close()
