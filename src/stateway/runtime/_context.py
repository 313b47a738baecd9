"""What an integration may ask of the engine: the plugin contract.

An integration (built-in or installed under the ``stateway.integrations`` entry point) is built
with an ``IntegrationContext`` and nothing else. It can complete a task, start or stop a child
execution, read the time and the settings, and use the few parts of the store its work needs,
each typed by the store contract (``stateway.store.contract``). It cannot decide for an
execution, commit, or reach the rest of the runtime: those stay behind this line, so the runtime
can change without breaking integrations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from stateway.engine.messages import TaskResult
from stateway.runtime import _metrics as metrics
from stateway.runtime._outcomes import Completed, Failed
from stateway.store import ExecutionRow
from stateway.store.contract import ExecutionStore, InvocationStore, MapRunStore, QueueStore

if TYPE_CHECKING:
    from stateway.runtime._runtime import Runtime
    from stateway.settings import Settings

# (Map Run name, definition, flow version, context) of a distributed Map's child: see start_child
MapChild = tuple[str, str, str, dict[str, Any]]


class IntegrationContext(Protocol):
    """The engine as an integration sees it."""

    @property
    def settings(self) -> Settings:
        """This process's settings (``settings.limits``, ``settings.http``, ``settings.functions``...)."""
        ...

    @property
    def owner(self) -> str:
        """This process's claim owner id: claim work (an async invocation) under it."""
        ...

    @property
    def lease(self) -> float:
        """Seconds a claim lasts without renewal; the runtime renews what ``owner`` holds."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other processes work on the same store (PostgreSQL)."""
        ...

    executions: ExecutionStore  # read executions, find a child, keep a task's logs
    invocations: InvocationStore  # async function invocations
    queues: QueueStore  # the built-in MNS-compatible queue
    map_runs: MapRunStore  # distributed Map runs

    def now(self) -> float:
        """The engine's clock (a test's is virtual): compare due times to this."""
        ...

    def complete_task(self, execution_id: int, task_id: str, outcome: Completed | Failed, *,
                      aliases: tuple[str, ...] = (), extra: Mapping[str, Any] | None = None) -> bool:
        """End an open task with an output or an error (for a task ``invoke`` answered with
        ``Submitted``). False if it had ended already. ``aliases``: further error names Retry and
        Catch may match; ``extra``: further detail for the task's history event."""
        ...

    def start_child(self, flow_name: str, execution_input: Any, name: str, *, parent: tuple[int, str],
                    callback_token: str | None = None, qualifier: str | None = None,
                    map_run: MapChild | None = None) -> ExecutionRow:
        """Start an execution owned by task ``parent`` = (execution id, task id): it is stopped when
        its parent ends, and ``callback_token`` hears of its end. Raises what ``StartExecution``
        does (``ExecutionAlreadyExists``, ``FlowNotExists``, ``ValueError`` for a bad input)."""
        ...

    def children_started(self, flow_name: str, started: int, waiting: int = 0) -> None:
        """Children the store created itself (a Map Run's, many in one transaction): ``started`` run
        at once, ``waiting`` wait for their flow's concurrency limit. Counted and woken for as
        ``start_child``'s are."""
        ...

    def stop_execution(self, execution_id: int, error: str = "", cause: str = "") -> ExecutionRow:
        """Ask an execution to stop (a child whose task was cancelled)."""
        ...

    def notify_queue(self) -> None:
        """Wake long-polling queue receivers after a message was sent."""
        ...

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Hear change notices written by other processes (see ``Wakeups`` in the store contract)."""
        ...


def task_result(task_id: str, outcome: Completed | Failed, aliases: tuple[str, ...] = (),
                extra: Mapping[str, Any] | None = None) -> TaskResult:
    """The inbox event that ends a task. ``extra``: ``logs`` (what the task printed) and ``map_run``
    (a distributed Map's summary)."""
    rest = dict(extra or {})
    logs = rest.pop("logs", None) or (outcome.logs if isinstance(outcome, Completed) else None)
    map_run = rest.pop("map_run", None)
    if rest:
        raise TypeError(f"a task result has no fields {sorted(rest)}")
    if isinstance(outcome, Completed):
        return TaskResult.success(task_id, outcome.output, logs=logs, map_run=map_run)
    return TaskResult.failure(task_id, outcome.error, outcome.cause, aliases=tuple(aliases), logs=logs,
                              map_run=map_run)


class RuntimeContext:
    """The ``IntegrationContext`` a runtime gives its integrations."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        store = runtime.store
        self.executions: ExecutionStore = store
        self.invocations: InvocationStore = store
        self.queues: QueueStore = store
        self.map_runs: MapRunStore = store

    @property
    def settings(self) -> Settings:
        return self._runtime.settings

    @property
    def owner(self) -> str:
        return self._runtime.owner

    @property
    def lease(self) -> float:
        return self._runtime.lease

    @property
    def shared(self) -> bool:
        return bool(self._runtime.store.shared)

    def now(self) -> float:
        return self._runtime.clock.now()

    def complete_task(self, execution_id: int, task_id: str, outcome: Completed | Failed, *,
                      aliases: tuple[str, ...] = (), extra: Mapping[str, Any] | None = None) -> bool:
        return self._runtime.complete_task(execution_id, task_id, task_result(task_id, outcome, aliases, extra))

    def start_child(self, flow_name: str, execution_input: Any, name: str, *, parent: tuple[int, str],
                    callback_token: str | None = None, qualifier: str | None = None,
                    map_run: MapChild | None = None) -> ExecutionRow:
        return self._runtime.start_execution(flow_name, execution_input, name, parent=parent,
                                             callback_token=callback_token, qualifier=qualifier, map_run=map_run)

    def children_started(self, flow_name: str, started: int, waiting: int = 0) -> None:
        if started + waiting:
            metrics.EXECUTIONS_STARTED.inc(started + waiting)
        if waiting:
            self._runtime.admission.waiting.add(flow_name)
        if started:
            self._runtime.notify()

    def stop_execution(self, execution_id: int, error: str = "", cause: str = "") -> ExecutionRow:
        return self._runtime.stop_execution(execution_id, error, cause)

    def notify_queue(self) -> None:
        self._runtime.notify_queue()

    def subscribe(self, callback: Callable[[str], None]) -> None:
        if self._runtime.store.shared:
            self._runtime.store.subscribe(callback)
