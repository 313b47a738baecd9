"""``Stateway``: the application services over one runtime, as the API, the console, the CLI and
Python programs use them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stateway.app._scoped import ScopedStateway
from stateway.app._waits import Waiters
from stateway.app.bulk import BulkOperations
from stateway.app.executions import EXPRESS_KEEP, EXPRESS_KEEP_SECONDS, Executions
from stateway.app.flows import Flows
from stateway.app.maprun import MapRuns
from stateway.app.queues import Queues
from stateway.app.schedules import Schedules
from stateway.app.tasks import Tasks
from stateway.policies import AccessDenied, Keyring, Policy
from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import Store


class Stateway:
    """``flows``, ``executions``, ``schedules``, ``tasks``, ``queues``, ``map_runs`` and ``bulk`` over ``runtime``.

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
        self.bulk = BulkOperations(runtime)  # stop, redrive or delete what a filter selects (app/bulk.py)
        runtime.queue_listeners.append(self.queues.changed)  # an MNS:SendMessage task, another process's notice
        self._owned: list[Any] = []

    @classmethod
    def open(cls, store: str, *, functions: str | Path | None = None, settings: Settings | None = None,
             **options: Any) -> Stateway:
        """Open a store (``sqlite:///path.db``, a ``.db`` path, a data directory, ``sqlite://`` in memory,
        or ``postgresql://…``) and start a runtime on it, built like ``stateway serve``'s (``settings``:
        a ``Settings``, by default the defaults). ``functions``: the folder of local functions that
        ``fc:`` tasks call. On a SQLite file this process becomes its one engine (``DatabaseInUse`` if
        ``stateway serve`` or ``run`` already is)."""
        from stateway.node import build

        chosen = (settings or Settings.from_config({})).with_store_url(str(store))
        if functions is not None:
            chosen = chosen.with_functions_dir(functions)
        node = build(chosen, engine_lock=True).start()
        app = cls(node.runtime, express_keep=chosen.express.keep, express_keep_seconds=chosen.express.keep_seconds,
                  **options)
        app._owned = [node]
        return app

    def for_key(self, key_id: str, keys: Mapping[str, str] | None = None) -> ScopedStateway:
        """These services as the access key ``key_id`` may use them: its policy (``allow``, ``flows``,
        ``queues`` of its ``[[access_keys]]`` entry) checked on every call, lists filtered to what it may
        see; ``AccessDenied`` otherwise. ``keys``: a ``Keyring`` (or id → secret), by default the
        runtime's settings."""
        keyring = Keyring.of(keys) if keys is not None else self.runtime.settings.keyring()
        if key_id not in keyring:
            raise AccessDenied("*", "*", key_id)
        return ScopedStateway(self, keyring.policy(key_id), key_id)

    def with_policy(self, policy: Policy, key_id: str = "") -> ScopedStateway:
        """These services under ``policy`` (see ``for_key``)."""
        return ScopedStateway(self, policy, key_id)

    def close(self) -> None:
        """Stop the Express runtime; with ``open``, also the runtime, the store and the engine lock."""
        self.executions.close()
        if self.queues.changed in self.runtime.queue_listeners:
            self.runtime.queue_listeners.remove(self.queues.changed)
        for node in self._owned:
            node.close()
        self._owned = []

    def __enter__(self) -> Stateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
