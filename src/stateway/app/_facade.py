"""``Stateway``: the application services over one runtime, as the API, the console, the CLI and
Python programs use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stateway.app._waits import Waiters
from stateway.app.executions import EXPRESS_KEEP, EXPRESS_KEEP_SECONDS, Executions
from stateway.app.flows import Flows
from stateway.app.maprun import MapRuns
from stateway.app.queues import Queues
from stateway.app.schedules import Schedules
from stateway.app.tasks import Tasks
from stateway.runtime import Runtime
from stateway.store import EngineLock, Store, lock_engine, open_store, sqlite_path


class Stateway:
    """``flows``, ``executions``, ``schedules``, ``tasks``, ``queues`` and ``map_runs`` over ``runtime``.

    Built over a runtime someone else owns (the server's), or with ``Stateway.open(url)``, which
    opens the store and starts its own runtime and closes both in ``close()``.
    """

    def __init__(self, runtime: Runtime, *, express_keep: int = EXPRESS_KEEP,
                 express_keep_seconds: float = EXPRESS_KEEP_SECONDS) -> None:
        self.runtime = runtime
        self.store: Store = runtime.store
        self.waiters = Waiters()
        self.waiters.attach(runtime)
        self.flows = Flows(runtime)
        self.executions = Executions(runtime, self.waiters, express_keep=express_keep,
                                     express_keep_seconds=express_keep_seconds)
        self.schedules = Schedules(runtime.store)
        self.tasks = Tasks(runtime)
        # the runtime already follows the store's notices and tells us through its queue notification
        self.queues = Queues(runtime.store, notify=runtime.notify_queue, waiters=self.waiters, listen=False)
        self.map_runs = MapRuns(runtime, self.executions)
        runtime_notify = runtime.notify_queue

        def queue_changed() -> None:  # an MNS:SendMessage task, or another process's notice
            runtime_notify()
            self.queues.changed()

        runtime.notify_queue = queue_changed  # type: ignore[method-assign]
        self._owned: list[Any] = []

    @classmethod
    def open(cls, store: str, *, functions: str | Path | None = None, settings: dict[str, Any] | None = None,
             **options: Any) -> Stateway:
        """Open a store (``sqlite:///path.db``, a ``.db`` path, a data directory, ``sqlite://`` in memory,
        or ``postgresql://…``) and start a runtime on it. ``functions``: the folder of local
        functions that ``fc:`` tasks call. On a SQLite file this process becomes its one engine
        (``DatabaseInUse`` if ``stateway serve`` or ``run`` already is)."""
        lock: EngineLock | None = None
        target = str(store)
        if not target.startswith(("postgresql://", "postgres://")) and sqlite_path(target) != ":memory:":
            lock = lock_engine(sqlite_path(target))
        try:
            opened = open_store(target)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        settings = dict(settings or {})
        if functions is not None:
            settings.setdefault("functions_dir", str(functions))
        runtime = Runtime(opened, settings=settings).start()
        express = settings.get("express") or {}
        app = cls(runtime, express_keep=int(express.get("keep", EXPRESS_KEEP)),
                  express_keep_seconds=float(express.get("keep_seconds", EXPRESS_KEEP_SECONDS)), **options)
        app._owned = [runtime, opened, lock]
        return app

    def close(self) -> None:
        """Stop the Express runtime; with ``open``, also the runtime, the store and the engine lock."""
        self.executions.close()
        runtime, opened, lock = self._owned or (None, None, None)
        self._owned = []
        if runtime is not None:
            runtime.close()
        if opened is not None:
            opened.close()
        if lock is not None:
            lock.release()

    def __enter__(self) -> Stateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
