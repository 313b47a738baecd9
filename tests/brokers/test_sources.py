"""The worker's broker sources (stateway.worker._amqp/_redis/_nats) on real servers, without the
Worker: receive, ack, nack, the delivery count, a consumer that dies holding a message, and dead
letters (asked for, and after max_deliveries)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

pytestmark = pytest.mark.timeout(400)  # the first RabbitMQ test waits for the session's node to start


class Kit:
    """One broker as the tests need it: a source URI, a way to publish, what the dead letters are."""

    def __init__(self, kind: str, server) -> None:
        self.kind = kind
        self.server = server
        self.name = f"t{uuid.uuid4().hex[:8]}"

    def uri(self) -> str:
        if self.kind == "amqp":
            return f"{self.server.url}?queue={self.name}"
        if self.kind == "redis":
            return f"{self.server.url}?stream={self.name}&group=workers"
        return f"{self.server.url}?subject={self.name}.jobs&stream={self.name.upper()}"

    def open(self, **options):
        from stateway.worker import _amqp, _nats, _redis

        module = {"amqp": _amqp, "redis": _redis, "nats": _nats}[self.kind]
        fast = {"amqp": {}, "redis": {"claim_after": 0.5}, "nats": {"ack_wait": 1.0}}[self.kind]
        return module.open(self.uri(), **{**fast, **options})

    def publish(self, *bodies: str) -> None:
        if self.kind == "amqp":
            import pika

            connection = pika.BlockingConnection(pika.URLParameters(self.server.url))
            channel = connection.channel()
            channel.confirm_delivery()
            for body in bodies:
                channel.basic_publish("", self.name, body.encode(), pika.BasicProperties(delivery_mode=2),
                                      mandatory=True)
            connection.close()
        elif self.kind == "redis":
            import redis

            client = redis.Redis.from_url(self.server.url)
            for body in bodies:
                client.xadd(self.name, {"message": body})
            client.close()
        else:
            import nats

            async def go():
                nc = await nats.connect(self.server.url)
                for body in bodies:
                    await nc.jetstream().publish(f"{self.name}.jobs", body.encode())
                await nc.close()

            asyncio.run(go())

    def dead(self, source) -> list[tuple[str, str]]:
        """(body, reason) of each dead letter."""
        if self.kind == "amqp":
            import pika

            connection = pika.BlockingConnection(pika.URLParameters(self.server.url))
            channel = connection.channel()
            found = []
            while True:
                method, properties, body = channel.basic_get(source.dead_letter_name, auto_ack=False)
                if method is None:
                    break
                headers = properties.headers or {}
                reason = headers.get("x-stateway-dead-reason") or ("x-death" in headers and "delivery limit") or ""
                found.append((body.decode(), str(reason)))
            connection.close()  # unacked: they stay in the queue
            return found
        if self.kind == "redis":
            import redis

            client = redis.Redis.from_url(self.server.url, decode_responses=True)
            entries = client.xrange(source.dead_letter_name)
            client.close()
            return [(f["message"], f["deadReason"]) for _, f in entries]
        import nats

        async def go():
            nc = await nats.connect(self.server.url)
            js = nc.jetstream()
            info = await js.stream_info(source.dead_letter_name)
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else []:
                msg = await js.get_msg(source.dead_letter_name, seq)
                found.append((msg.data.decode(), msg.headers["Stateway-Dead-Reason"]))
            await nc.close()
            return found

        return asyncio.run(go())


@pytest.fixture(params=["amqp", "redis", "nats"])
def kit(request):
    fixture = {"amqp": "rabbitmq_server", "redis": "redis_server", "nats": "nats_server"}[request.param]
    return Kit(request.param, request.getfixturevalue(fixture))


def receive_all(source, count: int, timeout: float = 30.0) -> list:
    found: list = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        found += source.receive(count - len(found), 0.5)
    return found


def test_receive_ack_nack_and_the_delivery_count(kit):
    source = kit.open()
    try:
        assert source.receive(10, 0.2) == []
        kit.publish("one", "two", "three")
        got = receive_all(source, 3)
        assert sorted(d.body for d in got) == ["one", "three", "two"] and {d.attempt for d in got} == {1}
        for delivery in got:
            (delivery.nack if delivery.body == "two" else delivery.ack)()
        [again] = receive_all(source, 1)
        assert (again.body, again.attempt) == ("two", 2)
        again.ack()
        assert source.receive(10, 0.5) == []
    finally:
        source.close()


def test_a_consumer_that_dies_holding_a_message_hands_it_on(kit):
    first = kit.open()  # it declares what it reads
    kit.publish("held")
    [delivery] = receive_all(first, 1)
    assert delivery.attempt == 1
    first.close()  # as if killed: neither acked nor nacked
    second = kit.open()
    try:
        [again] = receive_all(second, 1, timeout=60)
        assert (again.body, again.attempt) == ("held", 2)
        again.ack()
    finally:
        second.close()


def test_dead_letter_asked_for_and_after_max_deliveries(kit):
    source = kit.open(max_deliveries=3)
    try:
        kit.publish("bad", "poison")
        got = {d.body: d for d in receive_all(source, 2)}
        got["bad"].dead_letter("no token in the message")
        delivery = got["poison"]
        for attempt in (1, 2, 3):
            assert (delivery.body, delivery.attempt) == ("poison", attempt)
            delivery.nack()
            if attempt < 3:
                [delivery] = receive_all(source, 1)
        assert source.receive(10, 1.5) == []  # never redelivered
        dead = sorted(kit.dead(source))
        deadline = time.monotonic() + 30
        while len(dead) < 2 and time.monotonic() < deadline:  # the broker moves it on its next look
            source.receive(10, 0.5)
            dead = sorted(kit.dead(source))
        assert [body for body, _ in dead] == ["bad", "poison"]
        reasons = dict(dead)
        assert reasons["bad"] == "no token in the message" and reasons["poison"]
        assert source.dead_letter_name == f"{kit.name.upper() if kit.kind == 'nats' else kit.name}-dead"
    finally:
        source.close()


def test_a_source_names_what_it_reads():
    from stateway.worker import _amqp, _nats, _redis

    with pytest.raises(ValueError, match="queue=NAME"):
        _amqp.open("amqp://u:secret@127.0.0.1:1/%2F")
    with pytest.raises(ValueError, match="stream=NAME"):
        _redis.open("redis://127.0.0.1:1/0")
    with pytest.raises(ValueError, match="subject=S&stream=N"):
        _nats.open("nats://127.0.0.1:1?subject=a")


@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_a_source_rides_out_its_server_not_being_there(own_server, kind):
    """Opened before its server is up, and then while it restarts: receive gives nothing (no
    exception) and takes up again once the server is back."""
    server = own_server(kind)
    server.stop()
    kit = Kit(kind, server)
    source = kit.open(connect_wait=0.5)
    try:
        assert source.receive(5, 0.3) == []
        server.start()
        deadline = time.monotonic() + 30
        while kind == "nats" and not source._opened.done():  # it declares the stream once connected
            assert time.monotonic() < deadline
            source.receive(1, 0.2)
        kit.publish("one")
        [delivery] = receive_all(source, 1)
        assert delivery.body == "one"
        delivery.ack()
        server.stop()
        assert source.receive(5, 0.3) == []
        server.start()
        deadline = time.monotonic() + 30
        while True:  # NATS: until the client has reconnected; Redis: the stream came back empty
            try:
                kit.publish("two")
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        found = [d for d in receive_all(source, 1) if d.body == "two"]
        assert len(found) == 1
        found[0].ack()
    finally:
        source.close()


def test_the_amqp_source_connects_again_after_the_broker_closed_it(rabbitmq_server):
    kit = Kit("amqp", rabbitmq_server)
    source = kit.open()
    try:
        kit.publish("one")
        [delivery] = receive_all(source, 1)
        rabbitmq_server.ctl("close_all_connections", "test")
        delivery.ack()  # its connection is gone: no error, and the broker hands the message out again
        [again] = receive_all(source, 1, timeout=60)
        assert (again.body, again.attempt) == ("one", 2)
        again.ack()
        kit.publish("two")
        [after] = receive_all(source, 1)
        assert (after.body, after.attempt) == ("two", 1)
        after.ack()
    finally:
        source.close()
