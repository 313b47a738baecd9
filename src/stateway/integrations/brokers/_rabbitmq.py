"""RabbitMQ:SendMessage with pika: a confirmed, mandatory, persistent publish.

pika's blocking connection belongs to one thread, so each of the broker's dispatch threads keeps
its own connection (the pool), made again after a failure. An attempt is bounded by a timer on
the connection's own I/O loop, which fires while pika waits for the confirm."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from stateway.integrations.brokers._base import (
    TOKEN_HEADER,
    BrokerIntegration,
    Unreachable,
    text_map,
)
from stateway.runtime._outcomes import IntegrationError, TaskCall
from stateway.settings import BrokerSettings

_NAMESPACE = uuid.UUID("0d7f6f8e-5c43-4a8e-b6de-9a3f1f2b7c55")
PROPERTIES = {"priority": "priority", "expiration": "expiration", "correlationId": "correlation_id",
              "messageId": "message_id", "replyTo": "reply_to", "contentType": "content_type", "type": "type",
              "appId": "app_id"}


class _Deadline(Exception):
    pass


class _Lost(Exception):
    """The connection went away during a publish."""


def _pika() -> Any:
    try:
        import pika

        pika_log = logging.getLogger("pika")
        if pika_log.level == logging.NOTSET:  # it logs each failed attempt as an ERROR; our error says it once
            pika_log.setLevel(logging.CRITICAL)
    except ImportError:  # pragma: no cover - the extra is not installed
        raise IntegrationError("RabbitMQ.Unavailable", "RabbitMQ:SendMessage needs pika: pip install "
                               "'stateway[rabbitmq]'") from None
    return pika


class RabbitClient:
    """One confirm-mode channel per thread, on a connection of its own."""

    def __init__(self, broker: BrokerSettings) -> None:
        self.broker = broker
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def channel(self, timeout: float) -> tuple[Any, Any]:
        pika = _pika()
        held = getattr(self._local, "held", None)
        if held is not None and held[0].is_open and held[1].is_open:
            return held
        self.drop()
        params = pika.URLParameters(self.broker.url)
        params.socket_timeout = timeout
        params.stack_timeout = timeout
        params.blocked_connection_timeout = max(timeout, 1.0)
        params.connection_attempts = 1
        # no heartbeats: a blocking connection would miss them between publishes and be closed while
        # idle; a broker that stops answering is noticed by the attempt's own timer instead
        params.heartbeat = 0
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        channel.confirm_delivery()
        self._local.held = (connection, channel)
        with self._lock:
            self._all.append(connection)
        return connection, channel

    def holds(self) -> bool:
        """Whether this thread has a connection from before (which the broker may have dropped)."""
        return getattr(self._local, "held", None) is not None

    def drop(self) -> None:
        """Forget this thread's connection (after an error): the next attempt makes a new one."""
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is None:
            return
        with self._lock:
            if held[0] in self._all:
                self._all.remove(held[0])
        _abort(held[0])

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            _abort(connection)


def _abort(connection: Any) -> None:
    """Close without waiting for a broker that may not answer."""
    try:
        transport = connection._impl._transport
        if transport is not None:
            transport.abort()
    except Exception:
        pass


class RabbitMQSendMessage(BrokerIntegration):
    action = "RabbitMQ:SendMessage"
    modes = frozenset({"RequestComplete", "WaitForCustomCallback"})
    parameters = frozenset({"exchange", "routingKey", "message", "headers", "properties", "broker"})
    kind = "amqp"
    prefix = "RabbitMQ"

    def new_client(self, broker: BrokerSettings) -> RabbitClient:
        return RabbitClient(broker)

    def publish(self, client: RabbitClient, call: TaskCall, body: str, timeout: float) -> dict[str, Any]:
        pika = _pika()
        params = call.parameters
        exchange = params.get("exchange", "")
        routing_key = params.get("routingKey", "")
        if not isinstance(exchange, str) or not isinstance(routing_key, str):
            raise IntegrationError("FnF.InvalidArgument", "exchange and routingKey must be text")
        headers: dict[str, Any] = text_map(call, "headers")
        if call.mode == "WaitForCustomCallback":
            headers[TOKEN_HEADER] = call.token
        given = params.get("properties") or {}
        if not isinstance(given, dict) or set(given) - set(PROPERTIES):
            raise IntegrationError("FnF.InvalidArgument", f"properties takes {', '.join(PROPERTIES)}; got {given!r}")
        props = {PROPERTIES[k]: v for k, v in given.items()}
        if "priority" in props and not (isinstance(props["priority"], int) and 0 <= props["priority"] <= 255):
            raise IntegrationError("FnF.InvalidArgument", f"properties.priority must be 0 to 255, got {props['priority']!r}")
        if "expiration" in props:
            props["expiration"] = str(props["expiration"])  # milliseconds, as AMQP wants them: text
        message_id = str(props.setdefault("message_id", str(uuid.uuid5(_NAMESPACE, call.key))))
        props.setdefault("content_type", "application/json" if body[:1] in "{[" else "text/plain")
        properties = pika.BasicProperties(headers=headers or None, delivery_mode=2, **props)

        began = time.monotonic()
        reused = client.holds()
        try:
            self._send(pika, client, exchange, routing_key, body.encode(), properties, timeout)
        except _Lost as exc:
            remaining = timeout - (time.monotonic() - began)
            if not reused or remaining < 0.05:
                raise Unreachable(str(exc)) from None
            # a pooled connection the broker dropped while idle (a restart): one more go on a new one,
            # which is not a sign that the broker is down
            try:
                self._send(pika, client, exchange, routing_key, body.encode(), properties, remaining)
            except _Lost as again:
                raise Unreachable(str(again)) from None
        return {"MessageId": message_id}

    def _send(self, pika: Any, client: RabbitClient, exchange: str, routing_key: str, body: bytes, properties: Any,
              timeout: float) -> None:
        try:
            connection, channel = client.channel(timeout)
        except Exception as exc:  # pika's connection workflow has error types of its own (a handshake timeout)
            client.drop()
            refused = (pika.exceptions.ProbableAuthenticationError, pika.exceptions.ProbableAccessDeniedError)
            if isinstance(exc, pika.exceptions.AuthenticationError) or (
                    isinstance(exc, refused) and "ConnectionClosedByBroker" in str(exc)):  # the broker said why
                raise IntegrationError("RabbitMQ.AccessRefused", _describe(exc)) from None
            raise Unreachable(f"cannot connect: {_describe(exc)}") from None

        def expired() -> None:
            raise _Deadline()

        timer = connection._impl.ioloop.call_later(timeout, expired)
        try:
            channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
        except _Deadline:
            client.drop()
            raise Unreachable(f"no confirm within {timeout:g}s") from None
        except pika.exceptions.UnroutableError:
            raise IntegrationError("RabbitMQ.Unroutable", f"no queue is bound to exchange {exchange or '(default)'!r} "
                                   f"with routing key {routing_key!r}") from None
        except pika.exceptions.NackError:
            raise Unreachable("the broker did not accept the message (nack)") from None
        except pika.exceptions.ChannelClosedByBroker as exc:
            client.drop()
            if exc.reply_code == 404:
                raise IntegrationError("RabbitMQ.NotFound", exc.reply_text) from None
            if exc.reply_code == 403:
                raise IntegrationError("RabbitMQ.AccessRefused", exc.reply_text) from None
            raise Unreachable(_describe(exc)) from None
        except (pika.exceptions.AMQPError, OSError) as exc:
            client.drop()
            raise _Lost(_describe(exc)) from None
        finally:
            try:
                connection._impl.ioloop.remove_timeout(timer)
            except Exception:
                pass


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
