"""``amqp://user:pass@host:port/vhost?queue=NAME[&dead=NAME][&prefetch=N]``: a RabbitMQ queue as a
worker's source, with pika.

The queue is declared a quorum queue whose ``x-delivery-limit`` is ``max_deliveries - 1`` and
whose dead-letter exchange routes to the dead-letter queue (``NAME-dead`` by default): a message
whose handler crashed the worker ``max_deliveries`` times is moved there by the broker itself, and
``x-delivery-count`` gives ``attempt``. A queue that exists already with other arguments is used
as it is (``attempt`` is then 1, or 2 once redelivered, and only the worker's own dead-lettering
applies).

pika's connection belongs to one thread: it runs on an I/O thread of the source's own, which
consumes into a local queue that ``receive`` reads; acks and the rest are handed to that thread.
After a lost connection it connects again by itself; what was delivered on the old one and not yet
acknowledged is redelivered by the broker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

log = logging.getLogger("stateway.worker")
REASON_HEADER = "x-stateway-dead-reason"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}").geturl()


def quiet_pika() -> None:
    """pika logs every failed connection attempt as an ERROR with a traceback; the source says it
    once, as a warning. A level the application set for pika stays."""
    pika_log = logging.getLogger("pika")
    if pika_log.level == logging.NOTSET:
        pika_log.setLevel(logging.CRITICAL)


class AmqpDelivery:
    def __init__(self, source: AmqpSource, generation: int, tag: int, body: str, attempt: int,
                 properties: Any) -> None:
        self.source = source
        self.generation = generation
        self.tag = tag
        self.body = body
        self.attempt = attempt
        self.properties = properties

    def ack(self) -> None:
        self.source._settle(self, "ack")

    def nack(self) -> None:
        self.source._settle(self, "nack")

    def dead_letter(self, reason: str) -> None:
        self.source._settle(self, "dead", reason)


class AmqpSource:
    def __init__(self, uri: str, *, max_deliveries: int = 5, prefetch: int | None = None,
                 connect_wait: float = 10.0, **options: Any) -> None:
        import pika  # noqa: F401  (fail at open when the extra is missing)

        quiet_pika()

        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query))
        self.queue = query.pop("queue", "")
        if not self.queue:
            raise ValueError(f"an amqp:// source names its queue: {_redacted(uri)}?queue=NAME")
        self.dead_letter_name = query.pop("dead", None) or options.pop("dead", None) or f"{self.queue}-dead"
        given = query.pop("prefetch", None)
        self.prefetch = int(prefetch or given or 8)
        self.max_deliveries = max(1, int(max_deliveries))
        self.url = parts._replace(query=urlencode(query)).geturl()
        self.label = _redacted(self.url)
        self.limited = True  # whether the broker counts deliveries (a quorum queue with a delivery limit)
        self._inbox: queue.Queue[AmqpDelivery] = queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._generation = 0
        self._conn: Any = None
        self._channel: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"stateway-amqp-{self.queue}", daemon=True)
        self._thread.start()
        # the queue is declared once connected; a broker not up yet is waited for by the I/O thread
        self._connected.wait(connect_wait)

    # -- the I/O thread --------------------------------------------------------------------------
    def _run(self) -> None:
        import pika

        delay = 0.2
        while not self._stop.is_set():
            try:
                self._connect(pika)
                delay = 0.2
                while not self._stop.is_set():
                    self._conn.process_data_events(time_limit=0.25)
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._connected.clear()
                self._generation += 1  # tags of the old channel are void: the broker redelivers those messages
                log.warning("RabbitMQ source %s (queue %s): %s; connecting again in %.1fs", self.label, self.queue,
                            f"{type(exc).__name__}: {exc}", delay)
                self._drop()
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
        self._drop()

    def _connect(self, pika: Any) -> None:
        params = pika.URLParameters(self.url)
        params.heartbeat = params.heartbeat or 30
        params.connection_attempts = 1
        self._conn = pika.BlockingConnection(params)
        channel = self._conn.channel()
        channel.queue_declare(self.dead_letter_name, durable=True)
        arguments = {"x-queue-type": "quorum", "x-delivery-limit": self.max_deliveries - 1,
                     "x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.dead_letter_name}
        try:
            channel.queue_declare(self.queue, durable=True, arguments=arguments)
            self.limited = True
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 406:  # PRECONDITION_FAILED: declared before with other arguments
                raise
            log.warning("RabbitMQ queue %s exists without a delivery limit: messages that crash the worker are "
                        "redelivered until handled (declare it as a quorum queue with x-delivery-limit)", self.queue)
            channel = self._conn.channel()
            channel.queue_declare(self.queue, passive=True)
            self.limited = False
        channel.basic_qos(prefetch_count=self.prefetch)
        generation = self._generation

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            count = (properties.headers or {}).get("x-delivery-count")
            attempt = int(count) + 1 if isinstance(count, int) else (2 if method.redelivered else 1)
            self._inbox.put(AmqpDelivery(self, generation, method.delivery_tag, body.decode("utf-8", "replace"),
                                         attempt, properties))

        channel.basic_consume(self.queue, on_message)
        self._channel = channel
        self._connected.set()

    def _drop(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _settle(self, delivery: AmqpDelivery, how: str, reason: str = "") -> None:
        """Done on the I/O thread; waits until it was sent. A delivery of a connection since lost is
        left alone (the broker redelivers it)."""
        done = threading.Event()
        failure: list[BaseException] = []

        def settle() -> None:
            try:
                if delivery.generation != self._generation or self._channel is None:
                    return
                if how == "ack":
                    self._channel.basic_ack(delivery.tag)
                elif how == "nack":
                    self._channel.basic_nack(delivery.tag, requeue=True)
                else:
                    import pika

                    properties = delivery.properties
                    headers = dict(properties.headers or {})
                    headers[REASON_HEADER] = reason[:1000]
                    headers["x-stateway-source-queue"] = self.queue
                    copy = pika.BasicProperties(content_type=properties.content_type, headers=headers,
                                                delivery_mode=2, message_id=properties.message_id,
                                                correlation_id=properties.correlation_id)
                    # published, then acked, on the same channel: the broker does them in this order
                    self._channel.basic_publish("", self.dead_letter_name, delivery.body.encode(), copy)
                    self._channel.basic_ack(delivery.tag)
            except Exception as exc:
                failure.append(exc)
            finally:
                done.set()

        conn = self._conn
        if conn is None or delivery.generation != self._generation:
            return
        try:
            conn.add_callback_threadsafe(settle)
        except Exception:
            return  # the connection is going; the broker redelivers the message
        deadline = time.monotonic() + 30
        while not done.wait(0.1):
            if delivery.generation != self._generation or self._stop.is_set():
                return  # the connection went meanwhile: the broker redelivers the message
            if time.monotonic() > deadline:
                raise TimeoutError(f"RabbitMQ source {self.label}: the {how} was not sent within 30s")
        if failure:
            raise failure[0]

    # -- the Source contract ---------------------------------------------------------------------
    def receive(self, max_messages: int, wait_seconds: float) -> list[AmqpDelivery]:
        found: list[AmqpDelivery] = []
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while len(found) < max(1, max_messages):
            try:
                timeout = deadline - time.monotonic() if not found else 0
                delivery = self._inbox.get(timeout=max(0.0, timeout)) if timeout > 0 else self._inbox.get_nowait()
            except queue.Empty:
                break
            if delivery.generation == self._generation:
                found.append(delivery)
        return found

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def open(uri: str, **options: Any) -> AmqpSource:  # noqa: A001  (the contract's name)
    return AmqpSource(uri, **options)
