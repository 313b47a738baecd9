"""The Worker: receive messages from sources, run handlers, report results, acknowledge.

Delivery rules: a message is acknowledged only after its report is accepted (or the server says the
task is already over); a report that cannot get through (server down, restarting, 5xx) is tried
again with capped, jittered exponential backoff; a message the worker cannot handle (no token, not
JSON, delivered ``max_deliveries`` times) is dead-lettered; on SIGTERM/SIGINT the worker stops
receiving, lets running handlers finish and report (at most ``shutdown_seconds``), releases what is
left for another worker, and returns.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import queue as queue_module
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from stateway.worker._client import FlowClient, ReportError, backoff
from stateway.worker._task import Task, TaskFailure, failure_of
from stateway.worker._tracing import task_span
from stateway.worker.source import DEFAULT_MAX_DELIVERIES, Delivery, Source, SourceError, open_source

log = logging.getLogger("stateway.worker")

TOKEN_FIELDS = ("taskToken", "token", "TaskToken")
HEARTBEAT_FIELDS = ("heartbeatSeconds", "HeartbeatSeconds")
KEY_FIELDS = ("correlationKey", "CorrelationKey")
FIRST_BEAT_SECONDS = 0.5  # when the message does not give the window, the first beat asks for it
MAX_BATCH = 16

# CPU time below which a thread counts as not having woken at all between two looks
STUCK_CPU_SECONDS = 1e-6


@dataclass
class _Subscription:
    uri: str
    handler: Callable[[Task], Any]
    token_field: str | None
    auto_heartbeat: bool
    options: dict[str, Any]
    source: Source | None = None
    thread: threading.Thread | None = None
    label: str = ""


@dataclass
class _Running:
    task: Task
    delivery: Delivery
    subscription: _Subscription
    beating: bool = False
    released: bool = False
    thread_id: int | None = None  # the thread a synchronous handler runs on
    progress: tuple[float, Any] | None = None  # its CPU time and innermost frame when last looked at
    lock: threading.Lock = field(default_factory=threading.Lock)


def _token_fields(token: str) -> dict[str, Any]:
    """Flow, execution and task of a Stateway token, for the log (read, not verified: the server verifies)."""
    try:
        flow, _, execution, task_id = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        return {"flow": flow, "execution": execution, "task": task_id}
    except Exception:
        return {}


def _first(message: Any, names: tuple[str, ...]) -> Any:
    if isinstance(message, dict):
        for name in names:
            if message.get(name) not in (None, ""):
                return message[name]
    return None


class Worker:
    """Answer Stateway tasks from queues. ``endpoint`` and the key pair default to ``STATEWAY_ENDPOINT``
    and ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_SECRET``, like the CLI."""

    def __init__(self, endpoint: str | None = None, access_key_id: str | None = None,
                 access_key_secret: str | None = None, *, concurrency: int = 4, shutdown_seconds: float = 30.0,
                 max_deliveries: int = DEFAULT_MAX_DELIVERIES, poll_seconds: float = 5.0,
                 tracer_provider: Any = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = FlowClient(endpoint, access_key_id, access_key_secret)
        self.endpoint, self.access_key_id, self.access_key_secret = endpoint, access_key_id, access_key_secret
        self.concurrency = concurrency
        self.shutdown_seconds = shutdown_seconds
        self.max_deliveries = max_deliveries
        self.poll_seconds = poll_seconds
        self.tracer_provider = tracer_provider  # None: OpenTelemetry's global one (the handler spans)
        self.subscriptions: list[_Subscription] = []
        self._stopping = threading.Event()  # no more receiving
        self._hard_stop = threading.Event()  # no more retrying reports: release what is left
        self._slots = threading.Semaphore(concurrency)
        self._jobs: queue_module.Queue[_Running | None] = queue_module.Queue()
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._beats: queue_module.Queue[_Running | None] = queue_module.Queue()
        self.stats = {"succeeded": 0, "failed": 0, "ended": 0, "dead_lettered": 0, "released": 0}
        self._stats_lock = threading.Lock()

    # -- registration -----------------------------------------------------------------------------------
    def task(self, uri: str, *, token_field: str | None = None, auto_heartbeat: bool | str = True,
             **options: Any) -> Callable[[Callable[[Task], Any]], Callable[[Task], Any]]:
        """Register a handler for the messages of ``uri``. ``token_field``: the message field holding the
        task token (default ``taskToken`` or ``token``). ``auto_heartbeat``: beat every HeartbeatSeconds/3
        while the handler makes progress (True: a synchronous handler blocked in one call, using no CPU,
        for a whole beat interval is taken as hung and not beaten for; ``"always"``: beat while it runs at
        all; False: only ``task.heartbeat()`` beats)."""
        def register(handler: Callable[[Task], Any]) -> Callable[[Task], Any]:
            self.subscriptions.append(_Subscription(uri, handler, token_field, auto_heartbeat, options,
                                                    label=_label(uri)))
            return handler
        return register

    # -- running ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop taking messages; ``run`` returns once running handlers have reported (or time is up)."""
        if self._stopping.is_set():
            self._hard_stop.set()  # asked twice: do not wait
        self._stopping.set()

    def run(self, *, install_signals: bool = True) -> None:
        """Run until ``stop()``, SIGTERM or SIGINT. Returns normally after a graceful stop."""
        if not self.subscriptions:
            raise ValueError("no handlers: register one with @worker.task('mns://QUEUE')")
        for sub in self.subscriptions:  # a wrong URI or a missing library is fatal; an unreachable broker is not
            try:
                sub.source = self._open(sub)
            except (SourceError, ValueError):
                raise
            except Exception as exc:
                log.warning("cannot open %s yet: %s; trying again", sub.label, exc)
        restore = self._install_signals() if install_signals else {}
        threads = [threading.Thread(target=self._work, name=f"worker-{i}", daemon=True)
                   for i in range(self.concurrency)]
        threads.append(threading.Thread(target=self._heartbeats, name="worker-heartbeats", daemon=True))
        threads += [threading.Thread(target=self._beat_sender, name=f"worker-beat-{i}", daemon=True) for i in range(2)]
        if any(_is_async(s.handler) for s in self.subscriptions):
            self._loop = asyncio.new_event_loop()
            threads.append(threading.Thread(target=self._loop.run_forever, name="worker-loop", daemon=True))
        for t in threads:
            t.start()
        for sub in self.subscriptions:
            sub.thread = threading.Thread(target=self._receive, args=(sub,), name=f"receive-{sub.label}", daemon=True)
            sub.thread.start()
        log.info("worker started", extra={"sources": ", ".join(s.label for s in self.subscriptions),
                                          "concurrency": self.concurrency})
        try:
            while not self._stopping.wait(0.2):
                pass
            self._drain()
        finally:
            for sig, handler in restore.items():
                signal.signal(sig, handler)
            for _ in range(self.concurrency):
                self._jobs.put(None)
            self._beats.put(None)
            self._beats.put(None)
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
            for sub in self.subscriptions:
                if sub.source is not None:
                    try:
                        sub.source.close()
                    except Exception:
                        pass
            self.client.close()
        log.info("worker stopped", extra=dict(self.stats))

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        restore = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            restore[sig] = signal.signal(sig, lambda *_: self.stop())
        return restore

    def _drain(self) -> None:
        deadline = time.monotonic() + self.shutdown_seconds
        with self._lock:
            running = len(self._running)
        log.info("worker stopping: no new messages", extra={"running": running,
                                                             "shutdown_seconds": self.shutdown_seconds})
        while time.monotonic() < deadline and not self._hard_stop.is_set():
            with self._lock:
                busy = bool(self._running)
            receiving = any(s.thread is not None and s.thread.is_alive() for s in self.subscriptions)
            if not busy and not receiving:
                return
            time.sleep(0.05)
        self._hard_stop.set()
        # handlers still running past shutdown_seconds: their messages go back for another worker
        with self._lock:
            left = list(self._running.values())
        for item in left:
            self._release(item, "the worker stopped before its handler finished")
        end = time.monotonic() + 2.0
        while time.monotonic() < end:  # reports already under way may still land
            with self._lock:
                if not self._running:
                    break
            time.sleep(0.05)

    def _open(self, sub: _Subscription) -> Source:
        options = {"max_deliveries": self.max_deliveries, **sub.options}
        if urlsplit(sub.uri).scheme.lower() == "mns":
            options.update(endpoint=self.endpoint, access_key_id=self.access_key_id,
                           access_key_secret=self.access_key_secret)
        return open_source(sub.uri, **options)

    def _receive(self, sub: _Subscription) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                if sub.source is None:
                    sub.source = self._open(sub)
                if not self._slots.acquire(timeout=0.2):
                    continue
                taken = 1
                # several sources share the slots: a long poll holds no more than its share of them
                share = min(MAX_BATCH, max(1, self.concurrency // len(self.subscriptions)))
                while taken < share and self._slots.acquire(blocking=False):
                    taken += 1
                try:
                    deliveries = sub.source.receive(taken, self.poll_seconds)
                except BaseException:
                    for _ in range(taken):
                        self._slots.release()
                    raise
                for _ in range(taken - len(deliveries)):
                    self._slots.release()
                failures = 0
            except Exception as exc:
                failures += 1
                delay = backoff(failures, base=0.2, cap=10.0)
                level = logging.WARNING if failures in (1, 10) or failures % 60 == 0 else logging.DEBUG
                log.log(level, "cannot receive: %s; trying again in %.1fs", exc, delay, extra={"source": sub.label})
                self._stopping.wait(delay)
                continue
            for delivery in deliveries:
                if self._stopping.is_set():  # received as the stop came: back for another worker
                    self._settle(delivery, "nack")
                    self._slots.release()
                    continue
                self._start(sub, delivery)

    def _start(self, sub: _Subscription, delivery: Delivery) -> None:
        """Turn a delivery into a task, or dead-letter it; on a worker thread the handler runs."""
        body = delivery.body
        try:
            message: Any = json.loads(body)
        except (ValueError, TypeError):
            message = body
        names = (sub.token_field,) if sub.token_field else TOKEN_FIELDS
        token = _first(message, names)
        if delivery.attempt > self.max_deliveries:
            self._dead_letter(delivery, sub, f"delivered {delivery.attempt} times without a report "
                              f"(max_deliveries={self.max_deliveries})")
            return
        if not isinstance(token, str):
            why = "not JSON" if message is body else f"no task token (field {' or '.join(names)})"
            self._dead_letter(delivery, sub, f"the message has {why}")
            return
        window = _first(message, HEARTBEAT_FIELDS)
        key = _first(message, KEY_FIELDS)
        task = Task(message, token, delivery.attempt, body, self._beat_now,
                    float(window) if isinstance(window, (int, float)) and not isinstance(window, bool) else None,
                    str(key) if key is not None else None)
        task.traceparent = getattr(delivery, "traceparent", None)
        item = _Running(task, delivery, sub)
        with self._lock:
            self._running[id(item)] = item
        self._jobs.put(item)

    def _dead_letter(self, delivery: Delivery, sub: _Subscription, reason: str) -> None:
        try:
            delivery.dead_letter(reason)
            self._count("dead_lettered")
            log.warning("message dead-lettered", extra={"source": sub.label, "reason": reason,
                                                        "dead_letter": getattr(sub.source, "dead_letter_name", "")})
        except Exception as exc:
            log.warning("could not dead-letter a message (it comes back): %s", exc, extra={"source": sub.label})
        finally:
            self._slots.release()

    # -- handling ---------------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            try:
                self._handle(item)
            except Exception:
                log.exception("worker error")
                self._release(item, "worker error")
            finally:
                self._done(item)

    def _done(self, item: _Running) -> None:
        with self._lock:
            if self._running.pop(id(item), None) is None:
                return
        self._slots.release()

    def _handle(self, item: _Running) -> None:
        task, sub = item.task, item.subscription
        fields = {"source": sub.label, "attempt": task.attempt, **_token_fields(task.token)}
        began = time.monotonic()
        item.thread_id = threading.get_ident()
        try:
            with task_span(task.traceparent, sub.label, task.attempt, self.tracer_provider):
                result = self._call(sub.handler, task)
            output = {} if result is None else result
            if not isinstance(output, dict):
                outcome: tuple[str, Any] = ("fail", ("Worker.InvalidOutput", f"the handler returned "
                                                     f"{type(result).__name__}, not a JSON object (a dict)"))
            else:
                try:
                    json.dumps(output)
                    outcome = ("succeed", output)
                except (TypeError, ValueError) as exc:
                    outcome = ("fail", ("Worker.InvalidOutput", f"the handler's result is not JSON: {exc}"))
        except Exception as exc:
            outcome = ("fail", failure_of(exc))
        task.ended = True  # no more automatic beats
        kind, value = outcome
        verdict = self._report(task, kind, value, fields)
        seconds = round(time.monotonic() - began, 3)
        if verdict == "accepted":
            self._count("succeeded" if kind == "succeed" else "failed")
            log.info("task %s", "succeeded" if kind == "succeed" else "failed",
                     extra={**fields, **({"error": value[0]} if kind == "fail" else {}), "seconds": seconds})
            self._settle(item.delivery, "ack", item)
        elif verdict == "ended":
            self._count("ended")
            self._settle(item.delivery, "ack", item)
        elif verdict == "refused":
            self._settle(item.delivery, "dead", item)
        else:
            self._release(item, "its report did not get through before the worker stopped")

    def _call(self, handler: Callable[[Task], Any], task: Task) -> Any:
        if _is_async(handler):
            assert self._loop is not None
            return asyncio.run_coroutine_threadsafe(handler(task), self._loop).result()
        result = handler(task)
        if inspect.isawaitable(result):
            if self._loop is None:
                return asyncio.run(_awaited(result))
            return asyncio.run_coroutine_threadsafe(_awaited(result), self._loop).result()
        return result

    def _report(self, task: Task, kind: str, value: Any, fields: dict[str, Any]) -> str:
        """'accepted', 'ended' (already answered, or its execution is over), 'refused' or 'gave-up'."""
        attempt = 0
        while True:
            attempt += 1
            try:
                if kind == "succeed":
                    self.client.succeed(task.token, value)
                else:
                    self.client.fail(task.token, value[0], value[1])
                return "accepted"
            except ReportError as exc:
                if exc.task_ended:
                    log.info("task already over; message acknowledged", extra={**fields, "code": exc.code,
                                                                                "detail": exc.message})
                    return "ended"
                if exc.transient:
                    if self._hard_stop.is_set():
                        return "gave-up"
                    delay = backoff(attempt, base=0.2, cap=10.0)
                    if attempt in (1, 5) or attempt % 20 == 0:
                        log.warning("report not delivered (%s); trying again in %.1fs", exc, delay, extra=fields)
                    self._hard_stop.wait(delay)
                    continue
                if kind == "succeed" and exc.code == "InvalidArgument" and "token" not in exc.message.lower():
                    # the output itself was refused (too large, not JSON): fail the task saying why
                    kind, value = "fail", ("Worker.InvalidOutput", exc.message)
                    continue
                log.warning("report refused: %s", exc, extra=fields)
                return "refused"

    def _settle(self, delivery: Delivery, how: str, item: _Running | None = None, reason: str = "") -> None:
        if item is not None:
            with item.lock:
                if item.released:
                    return
                item.released = True
        try:
            if how == "ack":
                delivery.ack()
            elif how == "nack":
                delivery.nack()
            else:
                delivery.dead_letter(reason or "its report was refused")
                self._count("dead_lettered")
        except Exception as exc:
            log.warning("could not %s a message (it comes back after its visibility timeout): %s",
                        "acknowledge" if how == "ack" else "release" if how == "nack" else "dead-letter", exc)

    def _count(self, what: str) -> None:
        with self._stats_lock:
            self.stats[what] += 1

    def _release(self, item: _Running, reason: str) -> None:
        log.info("message released: %s", reason, extra={"source": item.subscription.label,
                                                       **_token_fields(item.task.token)})
        self._count("released")
        self._settle(item.delivery, "nack", item)

    # -- heartbeats --------------------------------------------------------------------------------------
    def _beat_now(self, task: Task) -> None:
        try:
            task.learned(self.client.heartbeat(task.token, include_key=not task.key_known))
        except ReportError as exc:
            if exc.task_ended:
                task.ended = True
                log.info("heartbeat: the task is already over", extra=_token_fields(task.token))
            elif exc.code == "ActionNotSupported":  # a Stateway without heartbeats
                task.heartbeat_seconds = 0.0
            else:
                log.warning("heartbeat not delivered: %s", exc, extra=_token_fields(task.token))

    def _heartbeats(self) -> None:
        """Automatic beats: every HeartbeatSeconds/3 for each running task (the first, early, to learn it)."""
        while not self._hard_stop.wait(0.05):
            now = time.monotonic()
            with self._lock:
                running = list(self._running.values())
            for item in running:
                task = item.task
                if item.beating or task.ended or not item.subscription.auto_heartbeat:
                    continue
                window = task.heartbeat_seconds
                if window == 0:
                    continue  # the task has no HeartbeatSeconds
                due = task.last_beat + (window / 3 if window else FIRST_BEAT_SECONDS)
                if now >= due:
                    if item.subscription.auto_heartbeat != "always" and _stuck(item):
                        task.last_beat = now  # look again in one interval; the engine's window runs on
                        continue
                    item.beating = True
                    self._beats.put(item)

    def _beat_sender(self) -> None:
        while True:
            item = self._beats.get()
            if item is None:
                return
            try:
                if not item.task.ended:
                    self._beat_now(item.task)
            finally:
                item.task.last_beat = time.monotonic()
                item.beating = False


def _stuck(item: _Running) -> bool:
    """Whether a synchronous handler has neither used CPU nor moved since the last beat: blocked in one
    call (a sleep, a lock, a read that never returns), which is what a hang looks like from outside.
    A handler that computes, or loops around short waits, moves; an async handler is not judged."""
    ident = item.thread_id
    if ident is None or _is_async(item.subscription.handler):
        return False
    try:
        cpu = time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (OSError, AttributeError):  # the thread ended, or no per-thread clock here
        return False
    frame = sys._current_frames().get(ident)
    where = (id(frame.f_code), frame.f_lasti, id(frame)) if frame is not None else None
    before, item.progress = item.progress, (cpu, where)
    if before is None:
        return False
    return cpu - before[0] < STUCK_CPU_SECONDS and where == before[1]


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _is_async(handler: Callable[..., Any]) -> bool:
    call = type(handler).__call__ if not inspect.isfunction(handler) else None
    return inspect.iscoroutinefunction(handler) or (call is not None and inspect.iscoroutinefunction(call))


def _label(uri: str) -> str:
    """The URI without credentials, for logs."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "") if parts.username or parts.password else parts.netloc
    return parts._replace(netloc=netloc).geturl()


__all__ = ["Task", "TaskFailure", "Worker"]
