"""NATS:SendMessage: a JetStream publish that waits for the stream's ack, with nats-py.

nats-py is asyncio: each NATS broker has one connection, run on an event loop thread of its own;
the broker's dispatch threads hand it publishes and wait, each bounded by ``asyncio.wait_for``.
The connection reconnects by itself. ``Nats-Msg-Id`` is derived from the task, so a publish
repeated after a crash is dropped by the stream's duplicate window."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Any

from stateway.integrations.brokers._base import (
    TOKEN_HEADER,
    BrokerIntegration,
    Unreachable,
    required_text,
    scrub,
    text_map,
)
from stateway.runtime._outcomes import IntegrationError, TaskCall
from stateway.settings import BrokerSettings

log = logging.getLogger("stateway.brokers")
_NAMESPACE = uuid.UUID("3b1d2c9a-7e4f-4f0a-8d3c-2e6b5a9c1f47")


def _nats() -> Any:
    try:
        import nats
        import nats.js.errors  # noqa: F401  (the submodule the error names live in)
    except ImportError:  # pragma: no cover - the extra is not installed
        raise IntegrationError("NATS.Unavailable", "NATS:SendMessage needs nats-py: pip install "
                               "'stateway[nats]'") from None
    return nats


class LoopThread:
    """An event loop on a daemon thread; ``run`` does a coroutine there within a timeout."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Any, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop)
        try:
            return future.result(timeout + 1.0)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


class NatsClient:
    def __init__(self, broker: BrokerSettings) -> None:
        self.broker = broker
        self.thread = LoopThread(f"stateway-nats-{broker.name}")
        self._nc: Any = None
        self._connecting: asyncio.Future[Any] | None = None  # on the loop: one connect at a time

    async def _error(self, exc: Exception) -> None:
        log.debug("NATS broker %r: %s", self.broker.name, scrub(f"{type(exc).__name__}: {exc}", self.broker.url))

    async def connection(self) -> Any:
        if self._nc is not None and not self._nc.is_closed:
            return self._nc
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> Any:
        nats = _nats()
        nc = await nats.connect(self.broker.url, connect_timeout=max(1, int(self.broker.timeout)),
                                allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                error_cb=self._error, name="stateway")
        self._nc = nc
        return nc

    def publish(self, subject: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
        async def go() -> Any:
            nc = await self.connection()
            return await nc.jetstream().publish(subject, body, timeout=timeout, headers=headers)

        try:
            return self.thread.run(go(), timeout)
        except BaseException:
            connecting = self._connecting
            if connecting is not None and not connecting.done() and self._nc is None:
                self.thread.loop.call_soon_threadsafe(connecting.cancel)  # a connect that hangs is made anew
            raise

    def close(self) -> None:
        nc = self._nc
        if nc is not None and not nc.is_closed:
            try:
                self.thread.run(nc.close(), 2.0)
            except BaseException:
                pass
        self.thread.stop()


class NATSSendMessage(BrokerIntegration):
    action = "NATS:SendMessage"
    modes = frozenset({"RequestComplete", "WaitForCustomCallback"})
    parameters = frozenset({"subject", "message", "headers", "broker"})
    kind = "nats"
    prefix = "NATS"

    def new_client(self, broker: BrokerSettings) -> NatsClient:
        return NatsClient(broker)

    def publish(self, client: NatsClient, call: TaskCall, body: str, timeout: float) -> dict[str, Any]:
        nats = _nats()
        subject = required_text(call, "subject")
        headers = text_map(call, "headers")
        message_id = headers.setdefault("Nats-Msg-Id", str(uuid.uuid5(_NAMESPACE, call.key)))
        if call.mode == "WaitForCustomCallback":
            headers[TOKEN_HEADER] = call.token
        try:
            ack = client.publish(subject, body.encode(), headers, timeout)
        except nats.js.errors.NoStreamResponseError:
            raise IntegrationError("NATS.NoStream", f"no JetStream stream takes subject {subject!r}") from None
        except nats.js.errors.APIError as exc:
            if exc.code == 503:
                raise Unreachable(f"JetStream is not available: {exc.description}") from None
            raise IntegrationError("NATS.Error", f"{exc.description or exc} (code {exc.code})") from None
        except TimeoutError:
            raise Unreachable(f"no ack within {timeout:g}s") from None
        except (nats.errors.Error, OSError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        except Exception as exc:  # the client's internals when a request is abandoned: try again, on a bound
            log.info("NATS broker %r: unexpected %s", client.broker.name, type(exc).__name__, exc_info=True)
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        return {"MessageId": message_id, "Stream": ack.stream, "Sequence": ack.seq}
