"""Heartbeats arriving together share one transaction (group commit): the first caller writes every
heartbeat that is waiting, the others wait for it. Each is still one UPDATE of its timer row; only
the commit, most of a lone heartbeat's cost on SQLite, is shared."""

from __future__ import annotations

import threading
import time
from typing import Any

from stateway.store import Store


class _Pending:
    __slots__ = ("task", "done", "window", "error")

    def __init__(self, task: tuple[int, str]) -> None:
        self.task = task
        self.done = threading.Event()
        self.window: float | None = None
        self.error: BaseException | None = None


class HeartbeatBatcher:
    MAX_BATCH = 500

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._writing = False

    def beat(self, execution_id: int, task_id: str) -> float | None:
        """The task's window (0: none), or None when it is not open."""
        mine = _Pending((execution_id, task_id))
        with self._lock:
            self._pending.append(mine)
            lead = not self._writing
            self._writing = True
        if lead:
            self._write_all()
        mine.done.wait()
        if mine.error is not None:
            raise mine.error
        return mine.window

    def _write_all(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending[:self.MAX_BATCH], self._pending[self.MAX_BATCH:]
                if not batch:
                    self._writing = False
                    return
            try:
                windows: list[Any] = self.store.heartbeat_tasks([p.task for p in batch], time.time())
                for p, window in zip(batch, windows, strict=True):
                    p.window = window
            except BaseException as exc:  # every waiter hears of it
                for p in batch:
                    p.error = exc
            for p in batch:
                p.done.set()
