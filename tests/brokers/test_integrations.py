"""RabbitMQ/Redis/NATS:SendMessage on real servers, through a real runtime: both modes, the errors
each names, a broker that is down or frozen, and what that does (nothing) to everyone else."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from stateway.fdl import FlowDefinitionError

pytestmark = pytest.mark.timeout(400)  # the first RabbitMQ test waits for the session's node to start

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: Send
States:
  - Type: Task
    Name: Send
    Action: {action}
    TaskMode: {mode}
    Timeout: {timeout}
    Parameters: {params}
    End: true
"""


def flow(action: str, mode: str, params: dict, timeout: float = 30) -> str:
    return FLOW.format(action=action, mode=mode, timeout=timeout, params=json.dumps(params))


def wait_for(predicate, timeout: float = 30.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- what each broker holds ----------------------------------------------------------------------
def rabbit_queue(url: str, name: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(name, durable=True)
    channel.queue_purge(name)
    connection.close()


def rabbit_get(url: str, name: str):
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        method, properties, body = connection.channel().basic_get(name, auto_ack=True)
        return None if method is None else (properties, body.decode())
    finally:
        connection.close()


def nats_stream(url: str, name: str, subjects: list[str]) -> None:
    import nats

    async def go():
        nc = await nats.connect(url)
        js = nc.jetstream()
        try:
            await js.delete_stream(name)
        except Exception:
            pass
        await js.add_stream(name=name, subjects=subjects)
        await nc.close()

    asyncio.run(go())


def nats_messages(url: str, stream: str) -> list:
    import nats

    async def go():
        nc = await nats.connect(url)
        js = nc.jetstream()
        info = await js.stream_info(stream)
        found = [await js.get_msg(stream, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)] \
            if info.state.messages else []
        await nc.close()
        return found

    return asyncio.run(go())


# -- the two modes, per broker -------------------------------------------------------------------
def test_rabbitmq_both_modes(memory_runtime, rabbitmq_server):
    url = rabbitmq_server.url
    rabbit_queue(url, "orders")
    runtime = memory_runtime(brokers={"main": {"url": url}})
    params = {"routingKey": "orders", "message": {"id": 1}, "headers": {"kind": "order"},
              "properties": {"priority": 3, "correlationId": "c-1", "expiration": 60000}}
    runtime.register_flow("rc", flow("RabbitMQ:SendMessage", "RequestComplete", params))
    row = runtime.wait(runtime.start_execution("rc", {}).id, 60)
    assert row.status == "Succeeded", row.cause
    properties, body = rabbit_get(url, "orders")
    assert json.loads(body) == {"id": 1} and row.output == {"MessageId": properties.message_id}
    assert properties.headers == {"kind": "order"} and properties.priority == 3
    assert properties.correlation_id == "c-1" and properties.expiration == "60000" and properties.delivery_mode == 2

    runtime.register_flow("cb", flow("RabbitMQ:SendMessage", "WaitForCustomCallback", params))
    row = runtime.start_execution("cb", {})
    properties, body = wait_for(lambda: rabbit_get(url, "orders"), what="the message")
    token = json.loads(body)["taskToken"]
    assert properties.headers["Stateway-Task-Token"] == token
    runtime.report_success(token, {"approved": True})
    assert runtime.wait(row.id, 30).output == {"approved": True}


def test_rabbitmq_unroutable_and_missing_exchange(memory_runtime, rabbitmq_server):
    runtime = memory_runtime(brokers={"default": {"url": rabbitmq_server.url}})
    runtime.register_flow("lost", flow("RabbitMQ:SendMessage", "RequestComplete",
                                       {"routingKey": "nobody-listens", "message": "hi"}))
    row = runtime.wait(runtime.start_execution("lost", {}).id, 60)
    assert (row.status, row.error) == ("Failed", "RabbitMQ.Unroutable"), row.cause
    runtime.register_flow("nox", flow("RabbitMQ:SendMessage", "WaitForCustomCallback",
                                      {"exchange": "no-such-exchange", "routingKey": "x", "message": "hi"}))
    row = runtime.wait(runtime.start_execution("nox", {}).id, 60)
    assert (row.status, row.error) == ("Failed", "RabbitMQ.NotFound"), row.cause

    wrong = rabbitmq_server.url.replace("guest:guest@", "guest:wrong-pw@")
    runtime = memory_runtime(brokers={"default": {"url": wrong}})
    runtime.register_flow("login", flow("RabbitMQ:SendMessage", "RequestComplete", {"routingKey": "q", "message": "m"}))
    row = runtime.wait(runtime.start_execution("login", {}).id, 60)
    assert (row.status, row.error) == ("Failed", "RabbitMQ.AccessRefused"), row.cause
    assert "wrong-pw" not in row.cause


def test_redis_both_modes_and_maxlen(memory_runtime, redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.delete("jobs")
    runtime = memory_runtime(brokers={"cache": {"url": redis_server.url}})
    params = {"stream": "jobs", "message": {"n": 1}, "fields": {"source": "test"}, "maxLen": 1000}
    runtime.register_flow("rc", flow("Redis:SendMessage", "RequestComplete", params))
    row = runtime.wait(runtime.start_execution("rc", {}).id, 60)
    assert row.status == "Succeeded", row.cause
    [(entry_id, fields)] = client.xrange("jobs")
    assert row.output == {"MessageId": entry_id, "Stream": "jobs"}
    assert fields == {"source": "test", "message": '{"n":1}'}

    runtime.register_flow("cb", flow("Redis:SendMessage", "WaitForCustomCallback", params))
    row = runtime.start_execution("cb", {})
    wait_for(lambda: client.xlen("jobs") == 2, what="the entry")
    fields = client.xrange("jobs")[-1][1]
    assert json.loads(fields["message"])["taskToken"] == fields["taskToken"]
    runtime.report_failure(fields["taskToken"], "Work.Refused", "no")
    assert runtime.wait(row.id, 30).error == "Work.Refused"

    # maxLen trims (approximately: whole nodes of 100 entries)
    client.delete("short")
    runtime.register_flow("trim", flow("Redis:SendMessage", "RequestComplete",
                                       {"stream": "short", "message": "x", "maxLen": 5}))
    rows = [runtime.start_execution("trim", {}) for _ in range(250)]
    for started in rows:
        assert runtime.wait(started.id, 60).status == "Succeeded"
    assert client.xlen("short") < 250


def test_nats_both_modes_and_no_stream(memory_runtime, nats_server):
    url = nats_server.url
    nats_stream(url, "ORDERS", ["orders.>"])
    runtime = memory_runtime(brokers={"default": {"url": url}})
    params = {"subject": "orders.new", "message": {"id": 7}, "headers": {"kind": "order"}}
    runtime.register_flow("rc", flow("NATS:SendMessage", "RequestComplete", params))
    row = runtime.wait(runtime.start_execution("rc", {}).id, 60)
    assert row.status == "Succeeded", row.cause
    assert row.output["Stream"] == "ORDERS" and row.output["Sequence"] == 1
    [message] = nats_messages(url, "ORDERS")
    assert json.loads(message.data) == {"id": 7} and message.headers["kind"] == "order"
    assert message.headers["Nats-Msg-Id"] == row.output["MessageId"]

    runtime.register_flow("cb", flow("NATS:SendMessage", "WaitForCustomCallback", params))
    row = runtime.start_execution("cb", {})
    message = wait_for(lambda: (m := nats_messages(url, "ORDERS")) and len(m) == 2 and m[-1], what="the message")
    token = json.loads(message.data)["taskToken"]
    assert message.headers["Stateway-Task-Token"] == token
    runtime.report_success(token, {"done": 1})
    assert runtime.wait(row.id, 30).output == {"done": 1}

    runtime.register_flow("lost", flow("NATS:SendMessage", "RequestComplete", {"subject": "nowhere", "message": "x"}))
    row = runtime.wait(runtime.start_execution("lost", {}).id, 60)
    assert (row.status, row.error) == ("Failed", "NATS.NoStream"), row.cause


# -- configuration -------------------------------------------------------------------------------
def test_validation_refuses_an_unknown_broker(memory_runtime):
    runtime = memory_runtime(brokers={"orders": {"url": "redis://127.0.0.1:1/0"},
                                      "events": {"url": "nats://127.0.0.1:1"}})
    with pytest.raises(FlowDefinitionError, match="unknown broker 'order' .*did you mean 'orders'"):
        runtime.register_flow("f", flow("Redis:SendMessage", "RequestComplete",
                                        {"stream": "s", "message": "m", "broker": "order"}))
    with pytest.raises(FlowDefinitionError, match="'events' is a nats:// broker"):
        runtime.register_flow("f", flow("Redis:SendMessage", "RequestComplete",
                                        {"stream": "s", "message": "m", "broker": "events"}))
    with pytest.raises(FlowDefinitionError, match=r"unknown broker 'default' for RabbitMQ:SendMessage; add \[brokers"):
        runtime.register_flow("f", flow("RabbitMQ:SendMessage", "RequestComplete", {"message": "m"}))
    # "default" is the only broker of the action's kind
    runtime.register_flow("ok", flow("Redis:SendMessage", "RequestComplete", {"stream": "s", "message": "m"}))
    runtime.register_flow("ok2", flow("NATS:SendMessage", "RequestComplete", {"subject": "s", "message": "m"}))
    # a name known only when the task runs is checked then, with the same message
    runtime.register_flow("dyn", flow("Redis:SendMessage", "RequestComplete",
                                      {"stream": "s", "message": "m", "broker.$": "$Input.b"}))
    row = runtime.wait(runtime.start_execution("dyn", {"b": "ordres"}).id, 30)
    assert row.error == "FnF.InvalidArgument" and "did you mean 'orders'" in row.cause


def test_bad_broker_settings_are_refused():
    from stateway.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=r"\[brokers.x\] url must be an amqp://, redis:// or nats:// URL, not http://"):
        Settings.from_config({"brokers": {"x": {"url": "http://h"}}})
    with pytest.raises(SettingsError, match=r"\[brokers.x\] has no setting 'timout'; did you mean 'timeout'"):
        Settings.from_config({"brokers": {"x": {"url": "redis://h", "timout": 1}}})
    settings = Settings.from_config({"brokers": {"x": {"url": "amqp://u:sekret@h/v"}}})
    assert "sekret" not in repr(settings) and "sekret" not in repr(settings.brokers)


# -- down, frozen, isolated ----------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DOWN = {"RabbitMQ": ("amqp://guest:sekret-pw@127.0.0.1:{port}/%2F", {"routingKey": "q", "message": "m"}),
        "Redis": ("redis://:sekret-pw@127.0.0.1:{port}/0", {"stream": "s", "message": "m"}),
        "NATS": ("nats://user:sekret-pw@127.0.0.1:{port}", {"subject": "s", "message": "m"})}


@pytest.mark.parametrize("prefix", sorted(DOWN))
@pytest.mark.parametrize("how", ["down", "frozen"])
def test_unavailable_broker_fails_within_the_timeout(memory_runtime, prefix, how):
    """Refused connections (down) and a peer that accepts but never answers (frozen) both end in
    <Broker>.Unavailable before the Task's Timeout, with the password nowhere in the history."""
    listener = None
    if how == "frozen":
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(100)
        port = listener.getsockname()[1]
    else:
        port = closed_port()
    url, params = DOWN[prefix]
    try:
        runtime = memory_runtime(brokers={"default": {"url": url.format(port=port), "timeout": 1, "retries": 2}})
        mode = "RequestComplete" if how == "down" else "WaitForCustomCallback"
        runtime.register_flow("f", flow(f"{prefix}:SendMessage", mode, params, timeout=6))
        began = time.monotonic()
        row = runtime.wait(runtime.start_execution("f", {}).id, 60)
        took = time.monotonic() - began
        assert (row.status, row.error) == ("Failed", f"{prefix}.Unavailable"), row.cause
        assert took < 6, took
        history = json.dumps(runtime.store.history(row.id))
        assert "Unavailable" in history and "sekret-pw" not in row.cause + history and "***" in row.cause
    finally:
        if listener is not None:
            listener.close()


SMALL = """Type: StateMachine
SpecVersion: v1
StartAt: Note
States:
  - Type: Task
    Name: Note
    Action: MNS:SendMessage
    Parameters:
      resourceArn: acs:mns:cn-hangzhou:1:/queues/notes/messages
      message: {hello: 1}
    End: true
"""


FROZEN = {"redis": ("Redis", {"stream": "s", "message": "m"}), "nats": ("NATS", {"subject": "jobs.x", "message": "m"}),
          "rabbitmq": ("RabbitMQ", {"routingKey": "q", "message": "m"})}


@pytest.mark.parametrize("kind", sorted(FROZEN))
def test_a_frozen_broker_delays_nobody_else(own_server, kind):
    """A broker frozen with 40 tasks on it (Redis and NATS: SIGSTOP, so it keeps its port and answers
    nothing; RabbitMQ: a port that accepts connections and says nothing, its node being slow to
    start). On a shared dispatch pool of 4 threads, 20 small executions that use another
    integration finish at once, while the broker's tasks end in <Broker>.Unavailable within their
    Timeout."""
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    prefix, params = FROZEN[kind]
    listener = server = None
    if kind == "rabbitmq":
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(100)
        url = f"amqp://guest:guest@127.0.0.1:{listener.getsockname()[1]}/%2F"
    else:
        server = own_server(kind)
        url = server.url
        if kind == "nats":
            nats_stream(url, "JOBS", ["jobs.>"])
    settings = Settings.from_config({"brokers": {"default": {"url": url, "timeout": 5, "retries": 1, "threads": 4}}},
                                    dispatch_threads=4)
    runtime = Runtime(SQLiteStore.in_memory(), settings=settings).start()
    try:
        runtime.register_flow("send", flow(f"{prefix}:SendMessage", "RequestComplete", params, timeout=20))
        runtime.register_flow("small", SMALL)
        if server is not None:
            assert runtime.wait(runtime.start_execution("send", {}).id, 30).status == "Succeeded"  # connected
            server.pause()
        began = time.monotonic()
        slow = [runtime.start_execution("send", {}) for _ in range(40)]
        time.sleep(0.3)  # the broker's threads are all waiting on it now
        small = [runtime.start_execution("small", {}) for _ in range(20)]
        for row in small:
            assert runtime.wait(row.id, 30).status == "Succeeded"
        small_took = time.monotonic() - began
        ended = [runtime.wait(row.id, 60) for row in slow]
        slow_took = time.monotonic() - began
        assert {(r.status, r.error) for r in ended} == {("Failed", f"{prefix}.Unavailable")}, \
            {(r.status, r.error, r.cause) for r in ended if r.error != f"{prefix}.Unavailable"}
        # the small ones did not wait for the broker's timeouts (5 s an attempt)
        assert small_took < 5.0 < slow_took, (small_took, slow_took)
        assert slow_took < 20  # the Task's Timeout
        if server is not None:
            server.resume()
            wait_for(lambda: runtime.wait(runtime.start_execution("send", {}).id, 30).status == "Succeeded",
                     timeout=30, what="the broker to be used again")
    finally:
        if server is not None:
            server.resume()
        if listener is not None:
            listener.close()
        runtime.close()


@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_a_broker_that_restarts_is_used_again(memory_runtime, own_server, kind, caplog):
    caplog.set_level("WARNING", logger="stateway.brokers")
    server = own_server(kind)
    prefix, params = {"redis": ("Redis", {"stream": "s", "message": "m"}),
                      "nats": ("NATS", {"subject": "jobs.x", "message": "m"})}[kind]
    if kind == "nats":
        nats_stream(server.url, "JOBS", ["jobs.>"])
    runtime = memory_runtime(brokers={"default": {"url": server.url, "timeout": 1, "retries": 1}})
    runtime.register_flow("f", flow(f"{prefix}:SendMessage", "RequestComplete", params, timeout=10))
    assert runtime.wait(runtime.start_execution("f", {}).id, 30).status == "Succeeded"
    server.stop()
    row = runtime.wait(runtime.start_execution("f", {}).id, 30)
    assert row.error == f"{prefix}.Unavailable", row.cause
    server.start()
    wait_for(lambda: runtime.wait(runtime.start_execution("f", {}).id, 30).status == "Succeeded", timeout=60,
             what="the broker to be used again")
    said = [r.getMessage() for r in caplog.records if r.name == "stateway.brokers"]
    assert any("is unavailable" in m for m in said) and any("answers again" in m for m in said), said


def test_a_stopped_executions_token_is_refused(memory_runtime, redis_server):
    import redis

    from stateway.runtime._runtime import TaskAlreadyCompleted

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.delete("stop")
    runtime = memory_runtime(brokers={"default": {"url": redis_server.url}})
    runtime.register_flow("f", flow("Redis:SendMessage", "WaitForCustomCallback", {"stream": "stop", "message": {}}))
    row = runtime.start_execution("f", {})
    wait_for(lambda: client.xlen("stop") == 1, what="the entry")
    token = client.xrange("stop")[0][1]["taskToken"]
    runtime.stop_execution(row.id, "Stopped.ByTest", "")
    assert runtime.wait(row.id, 30).status in ("Stopped", "Aborted", "Failed")
    with pytest.raises(TaskAlreadyCompleted):
        runtime.report_success(token, {})
    assert client.xlen("stop") == 1  # nothing was withdrawn: the message stays for the worker to drop


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_a_pooled_connection_the_broker_dropped_is_replaced(memory_runtime, kind, request):
    """The broker closes every client connection (as a restart does); the next task publishes on a
    new one instead of failing, and the broker is not taken for down."""
    server = request.getfixturevalue(f"{kind}_server")
    if kind == "rabbitmq":
        rabbit_queue(server.url, "pooled")
        action, params = "RabbitMQ:SendMessage", {"routingKey": "pooled", "message": "m"}
    else:
        action, params = "Redis:SendMessage", {"stream": "pooled", "message": "m"}
    runtime = memory_runtime(brokers={"default": {"url": server.url, "threads": 1, "retries": 0}})
    runtime.register_flow("f", flow(action, "RequestComplete", params))
    assert runtime.wait(runtime.start_execution("f", {}).id, 60).status == "Succeeded"
    if kind == "rabbitmq":
        server.ctl("close_all_connections", "test")
    else:
        import redis

        client = redis.Redis.from_url(server.url)
        client.client_kill_filter(_type="normal", skipme=True)
        client.close()
    row = runtime.wait(runtime.start_execution("f", {}).id, 60)
    assert row.status == "Succeeded", row.cause


def test_a_flow_with_broker_tasks_is_unit_tested_with_mocks(stateway):
    """No broker and no [brokers] config: stateway.testing mocks the actions like any other."""
    stateway.register(flow("RabbitMQ:SendMessage", "WaitForCustomCallback",
                           {"routingKey": "jobs", "message": {"n": 1}, "broker": "anything"}), "cb")
    stateway.mock("RabbitMQ:SendMessage", later=True)
    handle = stateway.start("cb", {})
    task = handle.pending_task("Send")
    assert task.parameters["routingKey"] == "jobs"
    handle.report_failure(task, "Work.Refused", "no")
    assert handle.result().error == "Work.Refused"
    stateway.register(flow("Redis:SendMessage", "RequestComplete", {"stream": "s", "message": "m"}), "rc")
    stateway.mock("Redis:SendMessage", returns={"MessageId": "1-0"})
    assert stateway.start("rc", {}).result().output == {"MessageId": "1-0"}


def test_an_execution_under_way_is_not_failed_for_a_broker_removed_from_the_config(tmp_path):
    """The check of broker names refuses a new or changed flow; an execution that was already running
    when the configuration lost its broker goes on, and only its broker task fails (Catch can take it)."""
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    definition = """Type: StateMachine
SpecVersion: v1
StartAt: Wait
States:
  - Type: Wait
    Name: Wait
    Seconds: 1
    Next: Send
  - Type: Task
    Name: Send
    Action: Redis:SendMessage
    Parameters: {stream: s, message: m, broker: old}
    Catch:
      - Errors: [FnF.ALL]
        Next: Caught
    End: true
  - Type: Pass
    Name: Caught
    End: true
"""
    db = str(tmp_path / "s.db")
    first = Runtime(SQLiteStore(db), settings=Settings.from_config({"brokers": {"old": {"url": "redis://127.0.0.1:1/0"}}}))
    first.register_flow("f", definition)
    row = first.start_execution("f", {})
    first.close()
    first.store.close()
    second = Runtime(SQLiteStore(db), settings=Settings.from_config({"brokers": {"new": {"url": "redis://127.0.0.1:1/0"}}}))
    second.start()
    try:
        ended = second.wait(row.id, 30)
        assert ended.status == "Succeeded", ended.cause
        with pytest.raises(FlowDefinitionError, match="unknown broker 'old'"):
            second.register_flow("g", definition)
    finally:
        second.close()
        second.store.close()
