"""Bounded concurrency per integration, so that no integration's slowness delays another's.

The dispatcher hands every outbox command to ``DispatchLimits``. A task invocation runs on the
pool of its integration: one pool per action prefix (``HTTP`` for ``HTTP:Request``, ``FC``,
``MNS``, ...), or per whole action when ``[dispatch]`` names one. Each pool runs at most its limit
at once; the excess waits in that pool's queue while its outbox row stays in the store (it is
marked done only once dispatched), so a crash loses nothing: the next start, or another worker
once the claim runs out, dispatches it. Cancels and end reports run on the shared pool, never
behind the invocations they are about (a cancel must reach a slow request that holds its pool).

A pool's limit, first found wins::

    [dispatch]
    "HTTP:Request" = 8   # a whole action
    HTTP = 16            # an action prefix (compared without case)

then the integration class's ``dispatch_limit`` attribute (an integration's own default, e.g. a
broker client that should not open more connections than that), then ``dispatch_threads`` (64).
Threads are started on demand, so an idle integration costs none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any


class DispatchLimits(Executor):
    def __init__(self, shared: Executor, limits: Mapping[str, int], default: int,
                 integration_limit: Callable[[str], int | None] = lambda action: None) -> None:
        """``shared``: the pool for commands that are not invocations. ``limits``: ``[dispatch]``.
        ``default``: the limit of an integration nothing else sets one for. ``integration_limit``:
        the integration's own default for an action (None: none)."""
        self.shared = shared
        self.limits = {name.lower(): int(n) for name, n in limits.items()}
        self.default = default
        self.integration_limit = integration_limit
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._waiting: dict[str, int] = {}
        self._running: dict[str, int] = {}
        self._closed = False

    @classmethod
    def for_runtime(cls, shared: Executor, settings: Any, registry: Any) -> DispatchLimits:
        def integration_limit(action: str) -> int | None:
            limit = getattr(registry.classes.get(action), "dispatch_limit", None)
            return limit if isinstance(limit, int) and limit >= 1 else None

        return cls(shared, getattr(settings, "dispatch_limits", {}), settings.dispatch_threads, integration_limit)

    # -- which pool --------------------------------------------------------------------------------
    def key_and_limit(self, action: str) -> tuple[str, int]:
        """The pool an action's invocations run on, and that pool's size."""
        whole = action.lower()
        if whole in self.limits:
            return whole, self.limits[whole]
        prefix = whole.partition(":")[0]
        if prefix in self.limits:
            return prefix, self.limits[prefix]
        return prefix, self.integration_limit(action) or self.default

    def _pool(self, action: str) -> tuple[str, ThreadPoolExecutor]:
        key, limit = self.key_and_limit(action)
        with self._lock:
            if self._closed:
                raise RuntimeError("the dispatcher is shut down")
            pool = self._pools.get(key)
            if pool is None:
                name = "".join(c if c.isalnum() else "-" for c in key)
                pool = self._pools[key] = ThreadPoolExecutor(max_workers=limit,
                                                             thread_name_prefix=f"stateway-dispatch-{name}")
                self._sizes[key] = limit
            return key, pool

    # -- Executor ----------------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """``fn(outbox_id, execution_id, command, ...)``: an ``invoke`` command runs on its
        integration's pool, anything else on the shared one."""
        command = next((a for a in args if isinstance(a, dict) and "kind" in a), None)
        action = command.get("action") if isinstance(command, dict) and command.get("kind") == "invoke" else None
        if not isinstance(action, str) or not action:
            return self.shared.submit(fn, *args, **kwargs)
        key, pool = self._pool(action)

        def run() -> Any:
            with self._lock:
                self._waiting[key] -= 1
                self._running[key] = self._running.get(key, 0) + 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self._running[key] -= 1

        with self._lock:
            self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            return pool.submit(run)
        except RuntimeError:
            with self._lock:
                self._waiting[key] -= 1
            raise

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
        for pool in pools:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        self.shared.shutdown(wait=wait, cancel_futures=cancel_futures)

    # -- what it holds -----------------------------------------------------------------------------
    def load(self) -> dict[str, dict[str, int]]:
        """Per pool: its limit, the invocations running, and those waiting for a thread."""
        with self._lock:
            return {key: {"limit": self._sizes[key], "running": self._running.get(key, 0),
                          "waiting": self._waiting.get(key, 0)} for key in sorted(self._sizes)}


__all__ = ["DispatchLimits"]
