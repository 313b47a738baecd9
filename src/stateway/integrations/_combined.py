"""Work handed in by many threads, done in batches by one of them (flat combining).

A thread that submits work either becomes the one that does everything queued so far, or waits
until another has done its part; either way it returns only once its work is done, and raises what
the batch raised. So many small requests (a Map Run's child ends, one per dispatcher thread) cost
one transaction per batch, and batches grow by themselves while the previous one is being written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Slot:
    __slots__ = ("done", "error", "item")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.done = threading.Event()
        self.error: BaseException | None = None


class Combined(Generic[T]):
    """``handle(key, items)`` does the work of one key (a Map Run) for all its queued items."""

    def __init__(self, handle: Callable[[str, list[T]], None]) -> None:
        self._handle = handle
        self._lock = threading.Lock()  # guards the queue
        self._doer = threading.Lock()  # held by the thread doing the queued work
        self._queue: dict[str, list[_Slot]] = {}

    def submit(self, key: str, item: T) -> None:
        slot = _Slot(item)
        with self._lock:
            self._queue.setdefault(key, []).append(slot)
        while not slot.done.is_set():
            if self._doer.acquire(blocking=False):
                try:
                    self._drain()
                finally:
                    self._doer.release()
                self._hand_on()
            else:
                slot.done.wait(1.0)
        if slot.error is not None:
            raise slot.error

    def _hand_on(self) -> None:
        """After a release: work queued by a thread that found the doer busy is done here, unless
        another thread has become the doer (it looks again after its own release)."""
        while True:
            with self._lock:
                if not self._queue:
                    return
            if not self._doer.acquire(blocking=False):
                return
            try:
                self._drain()
            finally:
                self._doer.release()

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue, {}
            if not batch:
                return
            for key, slots in batch.items():
                error: BaseException | None = None
                try:
                    self._handle(key, [s.item for s in slots])
                except Exception as exc:
                    error = exc
                for s in slots:
                    s.error = error
                    s.done.set()
