"""Long polls that hold no thread: a waiting request is an asyncio event, set from the runtime's thread.

DescribeExecution ``WaitTimeSeconds``, StartSyncExecution and MNS ReceiveMessage ``waitseconds``
used to block a worker thread each, so a few dozen of them starved every other request. Now a
waiter registers an event under a key, re-reads the store when woken, and otherwise sleeps on
the event loop. The runtime wakes the keys through its commit listeners (an execution's history
changed); ``app.queues`` wakes a queue's key when a message is sent. A periodic re-check
bounds the cost of a missed wake-up (a message sent by another process, a failure path without history).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from stateway.runtime import Runtime

ENDED_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionStopped", "ExecutionTimedOut"})


class Waiters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[Hashable, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def attach(self, runtime: Runtime) -> None:
        """Wake waiters on ``runtime``'s executions when they commit (queue waiters: ``app.queues``)."""
        key = id(runtime)

        def committed(execution_id: int, history: list[dict[str, Any]]) -> None:
            waited = ("execution", key, execution_id)
            # only an end is worth a re-read: a busy execution commits many times a second
            if waited in self._waiting and any(e.get("Type") in ENDED_EVENTS for e in history):
                self.wake(waited)

        runtime.listeners.append(committed)
        if getattr(runtime.store, "shared", False):
            # another process ended an execution: a PostgreSQL notice 'ended:<id>' (or 'ended', any)
            def noticed(topic: str) -> None:
                kind, _, execution_id = topic.partition(":")
                if kind != "ended":
                    return
                if execution_id.isdigit():
                    self.wake(("execution", key, int(execution_id)))
                else:
                    self.wake_all(("execution", key))

            runtime.store.subscribe(noticed)

    def wake(self, key: Hashable) -> None:
        if key not in self._waiting:  # the common case: nobody waits (no lock on the commit path)
            return
        with self._lock:
            waiting = list(self._waiting.get(key, ()))
        for loop, event in waiting:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop has closed
                pass

    def wake_all(self, prefix: tuple[Any, ...]) -> None:
        """Wake every waiter whose key starts with ``prefix``."""
        with self._lock:
            keys = [k for k in self._waiting if isinstance(k, tuple) and k[:len(prefix)] == prefix]
        for key in keys:
            self.wake(key)

    def wake_queues(self, queue: str | None = None) -> None:
        if queue is not None:
            self.wake(("queue", queue))
        else:
            self.wake_all(("queue",))

    @contextmanager
    def watch(self, key: Hashable) -> Iterator[asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(key, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                group = self._waiting.get(key)
                if group is not None:
                    group.discard(entry)
                    if not group:
                        del self._waiting[key]

    @staticmethod
    def recheck(seconds: float) -> float:
        """A re-check interval around ``seconds``, jittered so that many waiters that began together
        do not all hit the store in the same instant (a burst would queue every other request)."""
        return seconds * (0.5 + random.random())

    @staticmethod
    async def sleep(event: asyncio.Event, seconds: float) -> None:
        """Until ``event`` is set or ``seconds`` pass; clears it for the next round."""
        if seconds > 0:
            try:
                await asyncio.wait_for(event.wait(), timeout=seconds)
            except TimeoutError:
                pass
        event.clear()
