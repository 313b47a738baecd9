"""What the three broker actions share: finding the broker a Task names in ``[brokers.<name>]``, the
broker's own dispatch threads, bounded attempts with backoff, a circuit breaker, the message body,
and error texts with the broker's password taken out."""

from __future__ import annotations

import difflib
import json
import logging
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from stateway.runtime._outcomes import Completed, IntegrationError, Outcome, Submitted, TaskCall
from stateway.runtime._registry import Integration
from stateway.settings import BrokerSettings

log = logging.getLogger("stateway.brokers")

TOKEN_FIELDS = ("taskToken", "token")  # where a worker looks for the token (stateway.worker does too)
TOKEN_HEADER = "Stateway-Task-Token"
BUDGET_SHARE = 0.8  # of a Task's Timeout the attempts may use, so that Unavailable comes before FnF.Timeout
KINDS = {"amqp": "amqp://", "redis": "redis://", "nats": "nats://"}


class Unreachable(Exception):
    """An attempt failed in a way another attempt may mend (connection refused or lost, a timeout)."""


def redact(url: str) -> str:
    """The URL without its password (what logs, errors and history may show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


def secrets_of(url: str) -> list[str]:
    password = urlsplit(url).password
    return [s for s in {password, unquote(password)} if s] if password else []


def scrub(text: str, url: str) -> str:
    for secret in secrets_of(url):
        text = text.replace(secret, "***")
    return text


class Breaker:
    """While a broker is known to be down, one attempt at a time goes to the network (the probe);
    the others fail at once instead of each waiting out a timeout, so a queue of tasks drains."""

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self.failed_at: float | None = None
        self.error = ""
        self.probing = False
        self._lock = threading.Lock()

    def enter(self, again: bool) -> bool | None:
        """None: fail now (the broker is down and being probed); else whether this attempt probes.
        ``again``: a retry of an attempt that failed (it waited its backoff already)."""
        with self._lock:
            if self.failed_at is None:
                return False
            if self.probing or (not again and time.monotonic() - self.failed_at < self.cooldown):
                return None
            self.probing = True
            return True

    def release(self, probe: bool) -> None:
        if probe:
            with self._lock:
                self.probing = False

    def leave(self, probe: bool, error: str | None) -> str | None:
        """Records how the attempt went; says "down" or "up" when that changes what is known."""
        with self._lock:
            if probe:
                self.probing = False
            was_down = self.failed_at is not None
            if error is None:
                self.failed_at = None
                return "up" if was_down else None
            self.failed_at, self.error = time.monotonic(), error
            return None if was_down else "down"


class BrokerIntegration(Integration):
    """Subclasses say which broker kind they publish to and how (``publish``), and build a client."""

    kind: ClassVar[str]  # amqp, redis or nats: the URL scheme of the brokers it may use
    prefix: ClassVar[str]  # RabbitMQ, Redis, NATS: the start of its error names

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._lock = threading.Lock()
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._clients: dict[str, Any] = {}
        self._breakers: dict[str, Breaker] = {}
        self._closed = False

    # -- which broker --------------------------------------------------------------------------
    def _brokers(self) -> Mapping[str, BrokerSettings]:
        return self.context.settings.brokers

    def problem(self, name: Any) -> str | None:
        """Why ``name`` cannot be used by this action, or None."""
        if not isinstance(name, str) or not name:
            return f"broker must be the name of a [brokers.<name>] entry, got {name!r}"
        brokers = self._brokers()
        ours = sorted(n for n, b in brokers.items() if b.kind == self.kind)
        found = brokers.get(name)
        if name == "default" and (found is None or found.kind != self.kind) and len(ours) == 1:
            return None
        if found is None:
            close = difflib.get_close_matches(name, ours, n=1, cutoff=0.6)
            if close:
                hint = f"; did you mean {close[0]!r}?"
            elif ours:
                hint = f" (the {KINDS[self.kind]} brokers: {', '.join(ours)})"
            else:
                hint = f"; add [brokers.{name}] url = \"{KINDS[self.kind]}...\" to the config"
            return f"unknown broker {name!r} for {self.action}{hint}"
        if found.kind != self.kind:
            return (f"broker {name!r} is {_an(KINDS[found.kind])} broker; {self.action} publishes to "
                    f"{_an(KINDS[self.kind])} one" + (f" ({', '.join(ours)})" if ours else ""))
        return None

    def broker(self, name: Any) -> BrokerSettings:
        why = self.problem(name)
        if why is not None:
            raise IntegrationError("FnF.InvalidArgument", why)
        brokers = self._brokers()
        if name in brokers and brokers[name].kind == self.kind:
            return brokers[name]
        return next(b for b in brokers.values() if b.kind == self.kind)  # "default": the only one of its kind

    def check_parameters(self, parameters: Mapping[str, Any]) -> list[tuple[str, str]]:
        if "broker.$" in parameters:
            return []  # known when the task runs
        why = self.problem(parameters.get("broker", "default"))
        return [] if why is None else [("broker", why)]

    # -- the broker's own threads and client -----------------------------------------------------
    def dispatch_pool(self, parameters: Mapping[str, Any]) -> Executor | None:
        try:
            broker = self.broker(parameters.get("broker", "default"))
        except IntegrationError:
            return None  # the invoke fails at once, on any thread
        with self._lock:
            if self._closed:
                return None
            pool = self._pools.get(broker.name)
            if pool is None:
                pool = self._pools[broker.name] = ThreadPoolExecutor(
                    max_workers=broker.threads, thread_name_prefix=f"stateway-broker-{broker.name}")
            return pool

    def client(self, broker: BrokerSettings) -> Any:
        with self._lock:
            client = self._clients.get(broker.name)
            if client is None:
                client = self._clients[broker.name] = self.new_client(broker)
            return client

    def breaker(self, broker: BrokerSettings) -> Breaker:
        with self._lock:
            found = self._breakers.get(broker.name)
            if found is None:
                found = self._breakers[broker.name] = Breaker(min(1.0, broker.timeout))
            return found

    def new_client(self, broker: BrokerSettings) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools, clients = list(self._pools.values()), list(self._clients.values())
            self._pools.clear()
            self._clients.clear()
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for client in clients:
            try:
                client.close()
            except Exception:
                log.debug("a broker client did not close cleanly", exc_info=True)

    # -- a task --------------------------------------------------------------------------------
    def publish(self, client: Any, call: TaskCall, body: str, timeout: float) -> dict[str, Any]:
        """One attempt, within ``timeout`` seconds: the output ({"MessageId": ...}). Raises
        ``Unreachable`` for what another attempt may mend, ``IntegrationError`` for what it won't."""
        raise NotImplementedError

    def invoke(self, call: TaskCall) -> Outcome:
        broker = self.broker(call.parameters.get("broker", "default"))
        body = message_body(call)
        budget = broker.timeout * (broker.retries + 1) + 0.2 * (2 ** broker.retries)
        if call.timeout:
            budget = min(budget, call.timeout * BUDGET_SHARE)
        deadline = time.monotonic() + budget
        breaker = self.breaker(broker)
        delay = 0.1
        attempt = 0
        while True:
            attempt += 1
            probe = breaker.enter(attempt > 1)
            if probe is None:
                raise self._unavailable(broker, f"the broker is down ({breaker.error})")
            remaining = deadline - time.monotonic()
            try:
                output = self.publish(self.client(broker), call, body, max(0.05, min(broker.timeout, remaining)))
            except Unreachable as exc:
                error = scrub(str(exc) or type(exc).__name__, broker.url)
                if breaker.leave(probe, error) == "down":
                    log.warning("%s is unavailable: %s; its tasks fail with %s.Unavailable until it answers again",
                                self.describe(broker), error, self.prefix)
                pause = delay * (1 + random.random())
                if attempt > broker.retries or time.monotonic() + pause + 0.05 >= deadline:
                    raise self._unavailable(broker, f"{error} (after {attempt} attempt{'s' * (attempt > 1)})") from None
                log.info("%s: %s; trying again in %.2fs", self.describe(broker), error, pause)
                time.sleep(pause)
                delay = min(delay * 2, 2.0)
                continue
            except IntegrationError as exc:
                if exc.error == "FnF.InvalidArgument":  # refused before the broker was asked: it says nothing of it
                    breaker.release(probe)
                else:
                    self._up(broker, breaker.leave(probe, None))  # the broker answered: it is up
                exc.cause = scrub(exc.cause, broker.url)
                raise
            self._up(broker, breaker.leave(probe, None))
            return Submitted(output) if call.mode == "WaitForCustomCallback" else Completed(output)

    def _up(self, broker: BrokerSettings, change: str | None) -> None:
        if change == "up":
            log.warning("%s answers again", self.describe(broker))

    def describe(self, broker: BrokerSettings) -> str:
        return f"broker {broker.name!r} ({redact(broker.url)})"

    def _unavailable(self, broker: BrokerSettings, why: str) -> IntegrationError:
        return IntegrationError(f"{self.prefix}.Unavailable", f"{self.describe(broker)}: {why}")

    def cancel(self, call: TaskCall, reason: str) -> str:
        return "a message already sent cannot be withdrawn; its task token is refused from now on"


def _an(scheme: str) -> str:
    return f"an {scheme}" if scheme[0] in "aeiou" else f"a {scheme}"


def required_text(call: TaskCall, name: str) -> str:
    value = call.parameters.get(name)
    if not isinstance(value, str) or not value:
        raise IntegrationError("FnF.InvalidArgument", f"{call.action} needs a '{name}' parameter (text), got {value!r}")
    return value


def text_map(call: TaskCall, name: str) -> dict[str, str]:
    value = call.parameters.get(name) or {}
    if not isinstance(value, Mapping):
        raise IntegrationError("FnF.InvalidArgument", f"{call.action}: '{name}' must be an object, got {value!r}")
    return {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in value.items()}


def message_body(call: TaskCall) -> str:
    """The ``message`` parameter as the broker gets it: an object as JSON text, text as it is. In
    WaitForCustomCallback an object that names no token gets ``taskToken``, so a worker finds it."""
    if "message" not in call.parameters or call.parameters["message"] is None:
        raise IntegrationError("FnF.InvalidArgument", f"{call.action} needs a 'message' parameter")
    message = call.parameters["message"]
    if call.mode == "WaitForCustomCallback" and isinstance(message, Mapping) \
            and not any(f in message for f in TOKEN_FIELDS):
        message = {**message, "taskToken": call.token}
    return message if isinstance(message, str) else json.dumps(message, ensure_ascii=False, separators=(",", ":"))
