"""``nats://host:port?subject=SUBJECT&stream=STREAM[&durable=NAME][&dead=STREAM][&ack_wait=SECONDS]``:
a NATS JetStream stream read through a durable pull consumer, with nats-py.

The stream is created (on ``subject``) if it does not exist. The consumer (``durable``, default
``stateway-STREAM``) acknowledges explicitly; a message not acknowledged within ``ack_wait``
seconds (default 30: its worker died) is redelivered, and ``attempt`` is JetStream's delivery
count. The consumer's ``max_deliver`` is one more than ``max_deliveries``: a message delivered
``max_deliveries`` times already is not handed out again but moved to the dead-letter stream
(``STREAM-dead`` by default, subject ``stateway.dead.STREAM``) and terminated. ``nack`` asks for
redelivery at once.

nats-py is asyncio: the source runs its connection on an event loop thread of its own; the
Source methods hand work to it and wait (bounded). The connection reconnects by itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("stateway.worker")
SETTLE_TIMEOUT = 10.0


class NatsDelivery:
    def __init__(self, source: NatsSource, msg: Any, attempt: int) -> None:
        self.source = source
        self.msg = msg
        self.body = msg.data.decode("utf-8", "replace")
        self.attempt = attempt

    def ack(self) -> None:
        self.source._run(self.msg.ack_sync(timeout=SETTLE_TIMEOUT), SETTLE_TIMEOUT + 1)

    def nack(self) -> None:
        self.source._run(self.msg.nak(), SETTLE_TIMEOUT)

    def dead_letter(self, reason: str) -> None:
        self.source._run(self.source._dead_letter(self.msg, reason), SETTLE_TIMEOUT * 2)


class NatsSource:
    def __init__(self, uri: str, *, max_deliveries: int = 5, ack_wait: float | None = None,
                 connect_wait: float = 10.0, **options: Any) -> None:
        import nats  # noqa: F401  (fail at open when the extra is missing)

        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query))
        self.subject = query.pop("subject", "")
        self.stream = query.pop("stream", "")
        if not self.subject or not self.stream:
            raise ValueError("a nats:// source names its subject and stream: nats://host:port?subject=S&stream=N")
        self.durable = query.pop("durable", None) or options.pop("durable", None) or f"stateway-{self.stream}"
        self.dead_letter_name = query.pop("dead", None) or options.pop("dead", None) or f"{self.stream}-dead"
        self.dead_subject = f"stateway.dead.{self.stream}"
        self.ack_wait = float(ack_wait if ack_wait is not None else query.pop("ack_wait", 30))
        self.max_deliveries = max(1, int(max_deliveries))
        self.url = parts._replace(query="").geturl()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"stateway-nats-{self.stream}", daemon=True)
        self._thread.start()
        self._nc: Any = None
        self._sub: Any = None
        # a server not up yet is waited for (nats-py tries again by itself); receive gives nothing until then
        self._opened = asyncio.run_coroutine_threadsafe(self._open_retrying(), self.loop)
        try:
            self._opened.result(connect_wait)
        except TimeoutError:
            log.warning("NATS source %s: not connected yet; trying on", self.stream)

    def _run(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _error(self, exc: Exception) -> None:
        log.debug("NATS source %s: %s: %s", self.stream, type(exc).__name__, exc)

    async def _open(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
        from nats.js.errors import NotFoundError

        self._nc = await nats.connect(self.url, allow_reconnect=True, max_reconnect_attempts=-1,
                                      reconnect_time_wait=0.5, error_cb=self._error, name="stateway-worker")
        js = self._nc.jetstream()
        for name, subjects in ((self.stream, [self.subject]), (self.dead_letter_name, [self.dead_subject])):
            try:
                await js.stream_info(name)
            except NotFoundError:
                await js.add_stream(StreamConfig(name=name, subjects=subjects))
        config = ConsumerConfig(durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait,
                                max_deliver=self.max_deliveries + 1, filter_subject=self.subject)
        self._sub = await js.pull_subscribe(self.subject, durable=self.durable, stream=self.stream, config=config)
        self._js = js

    async def _open_retrying(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._open()
                return
            except Exception as exc:  # e.g. JetStream not enabled on the server yet
                log.warning("NATS source %s: %s: %s; trying again in %.1fs", self.stream, type(exc).__name__, exc,
                            delay)
                if self._nc is not None:
                    try:
                        await self._nc.close()
                    except Exception:
                        pass
                    self._nc = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _dead_letter(self, msg: Any, reason: str) -> None:
        meta = msg.metadata
        headers = {**(msg.headers or {}), "Stateway-Dead-Reason": reason[:1000].replace("\r", " ").replace("\n", " "),
                   "Stateway-Dead-From": f"{self.stream}/{meta.sequence.stream}"}
        headers.pop("Nats-Msg-Id", None)  # the dead stream keeps every copy
        await self._js.publish(self.dead_subject, msg.data, headers=headers, timeout=SETTLE_TIMEOUT)
        await msg.term()

    async def _fetch(self, max_messages: int, wait_seconds: float) -> list[NatsDelivery]:
        import nats.errors

        try:
            msgs = await self._sub.fetch(max(1, max_messages), timeout=max(0.05, wait_seconds))
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error as exc:  # disconnected: the client reconnects by itself
            log.warning("NATS source %s: %s: %s", self.stream, type(exc).__name__, exc)
            await asyncio.sleep(min(1.0, wait_seconds))
            return []
        found = []
        for msg in msgs:
            deliveries = msg.metadata.num_delivered
            if deliveries > self.max_deliveries:
                await self._dead_letter(msg, f"delivered {deliveries - 1} times without being handled "
                                        f"(max_deliveries {self.max_deliveries})")
                continue
            found.append(NatsDelivery(self, msg, deliveries))
        return found

    def receive(self, max_messages: int, wait_seconds: float) -> list[NatsDelivery]:
        if not self._opened.done():
            try:
                self._opened.result(max(0.0, wait_seconds))
            except TimeoutError:
                return []
        return self._run(self._fetch(max_messages, wait_seconds), wait_seconds + SETTLE_TIMEOUT + 5)

    def close(self) -> None:
        self._opened.cancel()

        async def stop() -> None:
            if self._nc is not None and not self._nc.is_closed:
                await self._nc.close()

        try:
            if self._thread.is_alive():
                self._run(stop(), 5)
        except BaseException:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def open(uri: str, **options: Any) -> NatsSource:  # noqa: A001  (the contract's name)
    return NatsSource(uri, **options)
