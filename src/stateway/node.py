"""The composition root: the one place a Stateway process is put together from its ``Settings``.

``stateway serve``, ``stateway run``, ``stateway worker`` and the test harness all call ``build``.
The order is fixed here, so nothing is configured after it was used: settings are complete
(the functions' environment included) before the store is opened; the store is opened (and, for
a SQLite file, its engine lock taken) before the runtime; the runtime builds its integrations with
their context; ``start`` runs the loop. ``close`` undoes it in reverse.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from stateway.runtime import Clock, IntegrationRegistry, Runtime
from stateway.settings import Settings
from stateway.store import EngineLock, Store, lock_engine, open_store, sqlite_path


class Node:
    """One process's engine: its settings, its store and its runtime (and the store's engine lock)."""

    def __init__(self, settings: Settings, store: Store, runtime: Runtime, *, owns_store: bool,
                 engine_lock: EngineLock | None = None) -> None:
        self.settings = settings
        self.store = store
        self.runtime = runtime
        self._owns_store = owns_store
        self._engine_lock = engine_lock
        self._closers: list[Callable[[], Any]] = []

    def start(self) -> Node:
        """Run executions here: the loop, the dispatcher, the integrations' workers."""
        self.runtime.start()
        return self

    def on_close(self, closer: Callable[[], Any]) -> None:
        """Run ``closer`` first when the node closes (an API app's service, a server)."""
        self._closers.append(closer)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self.runtime.close()
        if self._owns_store:
            self.store.close()
        if self._engine_lock is not None:
            self._engine_lock.release()

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_configured_store(settings: Settings) -> Store:
    """The store ``settings.store`` names, with its tuning. Raises ValueError for a URL it cannot
    use, and what the driver raises for a database it cannot reach."""
    target = settings.store.target
    if not target:
        raise ValueError("no store: give a store URL or a data directory")
    if target == settings.store.data_dir and not settings.store.shared:
        os.makedirs(target, exist_ok=True)  # serve's data directory is made on first use
    return open_store(target, **settings.store.open_options())


def build(settings: Settings, *, store: Store | None = None, clock: Clock | None = None,
          dispatch: Executor | None = None, registry: IntegrationRegistry | None = None,
          sweep_interval: float = 5.0, engine_lock: bool = False) -> Node:
    """Put a node together. ``store``: one already open (the node then leaves it open at close);
    by default the one ``settings.store`` names. ``engine_lock``: hold the SQLite file's engine
    lock for the node's life (raises ``DatabaseInUse`` naming the holder). ``clock``, ``dispatch``
    and ``registry``: what a test replaces (a virtual clock, a stepped dispatcher, mocks)."""
    lock = None
    owns_store = store is None
    if store is None:
        if engine_lock and not settings.store.shared and sqlite_path(settings.store.target) != ":memory:":
            if settings.store.target == settings.store.data_dir:
                os.makedirs(settings.store.data_dir, exist_ok=True)
            lock = lock_engine(sqlite_path(settings.store.target))
        try:
            store = open_configured_store(settings)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
    runtime = Runtime(store, registry=registry, settings=settings, clock=clock, dispatch=dispatch,
                      sweep_interval=sweep_interval)
    return Node(settings, store, runtime, owns_store=owns_store, engine_lock=lock)


__all__ = ["Node", "build", "open_configured_store"]
