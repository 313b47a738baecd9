"""The dispatcher a test's runtime uses instead of its thread pool.

The runtime hands every outbox command to ``submit``. Here a command waits in a queue until the
harness runs it, in order, on the test's own thread: a test sees the same sequence every time.
Only commands for real services (a test that opted in to local functions or HTTP) run on threads,
because a real process takes real time and may have to be killed while it runs."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any


class SteppedDispatch(Executor):
    def __init__(self, in_background: Callable[[tuple[Any, ...]], bool]) -> None:
        self._queue: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._in_background = in_background
        self._threads: ThreadPoolExecutor | None = None
        self._running: set[Future[Any]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:  # type: ignore[override]
        if self._closed:
            raise RuntimeError("the dispatcher is shut down")
        if self._in_background(args):
            if self._threads is None:
                self._threads = ThreadPoolExecutor(max_workers=32, thread_name_prefix="stateway-test-real")
            future = self._threads.submit(fn, *args, **kwargs)
            with self._lock:
                self._running.add(future)
            future.add_done_callback(self._finished)
            return future
        self._queue.append((lambda: fn(*args, **kwargs), ()))
        return Future()

    def later(self, action: Callable[[], Any]) -> None:
        """Run ``action`` after the commands queued so far (a mock that answers right after it was called)."""
        self._queue.append((action, ()))

    def _finished(self, future: Future[Any]) -> None:
        with self._lock:
            self._running.discard(future)

    def run_queued(self) -> int:
        """Run every queued command (and whatever they queue); returns how many ran."""
        count = 0
        while self._queue:
            action, _ = self._queue.popleft()
            action()
            count += 1
        return count

    def busy_in_background(self) -> bool:
        with self._lock:
            return bool(self._running)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        self._queue.clear()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
