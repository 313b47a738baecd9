"""The built-in durable queue (MNS semantics): queues with attributes, and messages with priority,
delay, visibility timeout and receipt handles that change on every receive.

Built from a store alone (``Queues(store)``), so the ``queue`` commands need no runtime. A receive
may wait (``wait_seconds``, a long poll) without polling in a loop: it sleeps until a send in this
process wakes it, a store notice from another process does (PostgreSQL ``NOTIFY``, topic
"queue"), a delayed or hidden message becomes visible, or the wait ends. A periodic re-check
bounds the cost of a missed wake-up; on SQLite, whose other processes cannot tell us, it is the
only news of their sends.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from stateway.app._waits import Waiters
from stateway.app.errors import (
    MessageNotExists,
    QueueAlreadyExists,
    QueueNotExists,
    ReceiptHandleError,
)
from stateway.runtime import InvalidArgument
from stateway.store import Store

QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,119}$")
HANDLE = re.compile(r"^[0-9A-Fa-f]+-[0-9a-f]{16}$")
ATTRIBUTE_RANGES = {"DelaySeconds": (0, 604800), "MaximumMessageSize": (1024, 65536),
                    "MessageRetentionPeriod": (60, 604800), "VisibilityTimeout": (1, 43200),
                    "PollingWaitSeconds": (0, 30)}
MAX_BATCH = 16
MAX_PEEK = 1000
RECHECK_SECONDS = 1.0  # a waiting receive re-reads the queue at least this often (sends by other processes)
RECHECK_UNSHARED = 0.25  # the same without a store that tells (SQLite, another process sending)


class InvalidQueueName(InvalidArgument):
    code = "InvalidQueueName"


@dataclass(frozen=True)
class Message:
    id: str
    body: str
    priority: int
    enqueued: float
    first_dequeued: float
    dequeue_count: int
    receipt_handle: str = ""  # empty when peeked
    next_visible: float | None = None
    properties: dict[str, str] = field(default_factory=dict)  # MNS UserProperties (e.g. traceparent)

    @classmethod
    def of(cls, row: dict[str, Any]) -> Message:
        return cls(id=row["id"], body=row["body"], priority=row["priority"], enqueued=row["enqueued"],
                   first_dequeued=row["first_dequeued"], dequeue_count=row["dequeue_count"],
                   receipt_handle=row.get("receipt_handle", ""), next_visible=row.get("next_visible"),
                   properties=row.get("properties") or {})


def bounded_int(value: Any, name: str, low: int, high: int, unit: str = "seconds") -> int:
    """An integer setting within MNS's range for it, with MNS's message when it is not."""
    message = f"The value of {name} should between {low} and {high} {unit}."
    if isinstance(value, bool):
        raise InvalidArgument(message)
    try:
        number = int(value if isinstance(value, int) else str(value or ""))
    except ValueError:
        raise InvalidArgument(message) from None
    if not low <= number <= high:
        raise InvalidArgument(message)
    return number


def check_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in ATTRIBUTE_RANGES:
            low, high = ATTRIBUTE_RANGES[key]
            out[key] = bounded_int(value, key, low, high, "bytes" if key == "MaximumMessageSize" else "seconds")
        elif key == "LoggingEnabled":
            out[key] = bool(value)
        else:
            raise InvalidArgument(f"unknown queue attribute {key!r}: expected some of "
                                  f"{[*ATTRIBUTE_RANGES, 'LoggingEnabled']}")
    return out


def check_queue_name(name: str) -> str:
    if not isinstance(name, str) or not QUEUE_NAME.fullmatch(name):
        raise InvalidQueueName(f"the queue name {str(name)[:128]!r} is not valid: 1 to 120 letters, digits and "
                               "hyphens, not starting with a hyphen")
    return name


def _handle(handle: str) -> str:
    if not isinstance(handle, str) or not HANDLE.match(handle):
        raise ReceiptHandleError(f"the receipt handle {str(handle)[:80]!r} is not one a receive gave")
    return handle


class Queues:
    def __init__(self, store: Store, *, notify: Callable[[], None] | None = None, waiters: Waiters | None = None,
                 listen: bool = True) -> None:
        """``notify``: also told of every send (the runtime's queue notification). ``listen``: follow the
        store's notices of other processes' changes (off when a runtime already forwards them)."""
        self.store = store
        self._notify = notify or (lambda: None)
        self.waiters = waiters or Waiters()
        self.recheck_seconds = RECHECK_SECONDS if getattr(store, "shared", False) else RECHECK_UNSHARED
        self._changed = threading.Condition()
        self._changes = 0
        if listen and getattr(store, "shared", False):
            store.subscribe(lambda topic: self.changed() if topic == "queue" else None)

    def changed(self, queue: str | None = None) -> None:
        """A queue changed (``None``: maybe any): wake the receives waiting on it."""
        with self._changed:
            self._changes += 1
            self._changed.notify_all()
        self.waiters.wake_queues(queue)

    # -- queues ---------------------------------------------------------------------------------------
    def create(self, name: str, attributes: dict[str, Any] | None = None) -> bool:
        """True when created, False when it exists with these attributes; ``QueueAlreadyExists`` when
        it exists with others."""
        outcome = self.store.create_queue(check_queue_name(name), check_attributes(attributes or {}))
        if outcome == "conflict":
            raise QueueAlreadyExists(f"the queue {name!r} exists with other attributes")
        return outcome == "created"

    def set_attributes(self, name: str, attributes: dict[str, Any]) -> None:
        if not self.store.set_queue_attributes(name, check_attributes(attributes)):
            raise QueueNotExists(f"the queue {name!r} does not exist")

    def get(self, name: str) -> dict[str, Any]:
        """Attributes, times, and the counts of active, inactive (received) and delayed messages."""
        info = self.store.get_queue(name)
        if info is None:
            raise QueueNotExists(f"the queue {name!r} does not exist")
        return info

    def list(self, prefix: str = "", after: str = "") -> list[dict[str, Any]]:  # noqa: A003
        """Queues by name (``name``, ``attributes``, ``created``, ``messages``), from ``after`` on."""
        return [q for q in self.store.list_queues() if q["name"].startswith(prefix) and q["name"] >= after]

    def stats(self) -> list[dict[str, Any]]:
        """``get`` of every queue."""
        return [info for q in self.store.list_queues() if (info := self.store.get_queue(q["name"])) is not None]

    def delete(self, name: str) -> None:
        """The queue and its messages; deleting a missing queue is not an error."""
        self.store.delete_queue(name)
        self.changed(name)

    # -- messages -------------------------------------------------------------------------------------
    def send(self, queue: str, body: str, *, priority: int = 8, delay: float | None = None,
             create: bool = False) -> Message:
        """``delay``: seconds before it can be received (the queue's DelaySeconds when None).
        ``create``: make the queue with default attributes when it does not exist."""
        if create:
            self.store.ensure_queue(check_queue_name(queue))
        attributes = self.get(queue)["attributes"]
        if len(body.encode()) > attributes["MaximumMessageSize"]:
            raise InvalidArgument("The length of message should not be larger than MaximumMessageSize.")
        delay = attributes["DelaySeconds"] if delay is None else bounded_int(delay, "DelaySeconds", 0, 604800)
        priority = bounded_int(priority, "Priority", 1, 16, "")
        now = time.time()
        sent = self.store.send_message(queue, body, priority, float(delay), now)
        self._notify()
        self.changed(queue)
        return Message(id=sent["id"], body=body, priority=priority, enqueued=now, first_dequeued=now,
                       dequeue_count=0)

    def peek(self, queue: str, count: int = 1) -> list[Message]:
        """Visible messages without receiving them (no receipt handle, nothing hidden)."""
        self.get(queue)
        count = bounded_int(count, "numOfMessages", 1, MAX_PEEK, "")
        return [Message.of(m) for m in self.store.peek_messages(queue, time.time(), count)]

    def _receive_now(self, queue: str, count: int, visibility: float) -> list[Message]:
        return [Message.of(m) for m in self.store.receive_messages(queue, time.time(), count, visibility)]

    def _settings(self, queue: str, count: int, visibility: float | None, wait_seconds: float | None
                  ) -> tuple[int, float, float]:
        attributes = self.get(queue)["attributes"]
        visibility = attributes["VisibilityTimeout"] if visibility is None else \
            bounded_int(visibility, "VisibilityTimeout", 1, 43200)
        wait = attributes["PollingWaitSeconds"] if wait_seconds is None else \
            bounded_int(wait_seconds, "waitseconds", 0, 30)
        return _count(count), float(visibility), float(wait)

    def _pause(self, queue: str, deadline: float) -> float:
        """How long to sleep before the next try: the re-check, the wait's end, or a message's visibility."""
        pause = min(deadline - time.monotonic(), Waiters.recheck(self.recheck_seconds))
        visible_at = self.store.next_visible(queue)
        if visible_at is not None:
            pause = min(pause, max(0.0, visible_at - time.time()) + 0.001)
        return pause

    def receive(self, queue: str, count: int = 1, *, visibility: float | None = None,
                wait_seconds: float | None = None) -> list[Message]:
        """Receive up to ``count`` messages, hiding them for ``visibility`` seconds; when none is
        visible, wait up to ``wait_seconds`` (the queue's PollingWaitSeconds when None) for one.
        An empty list when none came. Blocks this thread while waiting."""
        count, visibility, wait = self._settings(queue, count, visibility, wait_seconds)
        deadline = time.monotonic() + wait
        while True:
            with self._changed:
                seen = self._changes
            found = self._receive_now(queue, count, visibility)
            if found or time.monotonic() >= deadline:
                return found
            pause = self._pause(queue, deadline)
            with self._changed:
                if self._changes == seen and pause > 0:
                    self._changed.wait(pause)

    async def receive_async(self, queue: str, count: int = 1, *, visibility: float | None = None,
                            wait_seconds: float | None = None,
                            closing: Callable[[], bool] | None = None) -> list[Message]:
        """``receive`` for an event loop: holds no thread while it waits. ``closing``: when it turns true
        (and the waiters are woken) the wait ends at once, empty."""
        count, visibility, wait = await anyio.to_thread.run_sync(self._settings, queue, count, visibility,
                                                                 wait_seconds)
        deadline = time.monotonic() + wait
        with self.waiters.watch(("queue", queue)) as woken:
            while True:
                found = await anyio.to_thread.run_sync(self._receive_now, queue, count, visibility)
                if found or time.monotonic() >= deadline or (closing is not None and closing()):
                    return found
                await Waiters.sleep(woken, await anyio.to_thread.run_sync(self._pause, queue, deadline))
                if closing is not None and closing():
                    return []

    def delete_message(self, queue: str, receipt_handle: str) -> None:
        """Delete a received message; ``MessageNotExists`` when the handle is no longer valid."""
        if not self.store.delete_message(queue, _handle(receipt_handle)):
            raise MessageNotExists("the receipt handle is not valid (expired, deleted or superseded)")

    def change_visibility(self, queue: str, receipt_handle: str, seconds: float) -> tuple[str, float]:
        """Hide a received message ``seconds`` more (0: visible now): its new receipt handle and when it
        becomes visible. The old handle is void."""
        seconds = bounded_int(seconds, "VisibilityTimeout", 0, 43200)
        _handle(receipt_handle)
        visible_at = time.time() + seconds
        handle = self.store.change_visibility(queue, receipt_handle, visible_at)
        if handle is None:
            raise MessageNotExists("the receipt handle is not valid (expired, deleted or superseded)")
        if seconds == 0:
            self.changed(queue)
        return handle, visible_at


def _count(count: int) -> int:
    return bounded_int(count, "numOfMessages", 1, MAX_BATCH, "")
