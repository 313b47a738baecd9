"""Executions: start (Standard flows, durably), run synchronously (Express flows, in memory), stop,
describe, list, history, logs, and waiting for an end.

Express flows run on a second ``Runtime`` over ``SQLiteStore.in_memory()``, made on first use: the
same engine and integrations, nothing written to disk. Ended Express executions are forgotten
beyond the newest ``express_keep`` or after ``express_keep_seconds``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from typing import Any

import anyio

from stateway.app._checks import check_name
from stateway.app._waits import Waiters
from stateway.app.flows import is_express
from stateway.app.redrive import Redrives
from stateway.runtime import FINAL_STATUSES, InvalidArgument, Runtime
from stateway.settings import TelemetrySettings
from stateway.store import ExecutionNotExists, ExecutionRow, FlowNotExists, NonceReplayed, SQLiteStore

STATUSES = ("Starting", "Running", "Succeeded", "Failed", "Stopped", "TimedOut")
SYNC_SECONDS = 300  # a synchronous (Express) execution runs at most this long
STOP_SECONDS = 5  # how long a stop waits for the execution to end before answering
RECHECK_SECONDS = 5.0  # a wait re-reads the store about this often even if not woken (a safety net)
EXPRESS_KEEP = 1000  # ended Express executions kept in memory, at most...
EXPRESS_KEEP_SECONDS = 600  # ...and for at most this long


def qualifier_filter(qualifier: str | None) -> dict[str, str]:
    """Digits match the version that ran, however it was chosen; a name matches starts through that alias."""
    if not qualifier:
        return {}
    return {"flow_version": str(int(qualifier))} if qualifier.isdigit() else {"qualifier": qualifier}


class Executions:
    def __init__(self, runtime: Runtime, waiters: Waiters, *, express_keep: int = EXPRESS_KEEP,
                 express_keep_seconds: float = EXPRESS_KEEP_SECONDS) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.waiters = waiters
        self.express_keep = express_keep
        self.express_keep_seconds = express_keep_seconds
        self.recheck_seconds = RECHECK_SECONDS
        self._express: Runtime | None = None
        self._express_lock = threading.Lock()

    # -- starting -------------------------------------------------------------------------------------
    def start(self, flow_name: str, input: Any = None, name: str | None = None, *,  # noqa: A002
              qualifier: str | None = None, callback_token: str | None = None,
              flow: dict[str, Any] | None = None) -> ExecutionRow:
        """Start a Standard flow's execution; a repeated start with the same name finds the first one.
        ``qualifier``: a published version number or an alias. ``flow``: the flow as the caller has just
        read it (``flows.require``); without it the store reads it with the start (its mode checked
        there), so that a start reads its flow once. Errors come in the order of a read first:
        FlowNotExists, then an Express flow, then the rest."""
        if flow is not None and flow.get("name") == flow_name:
            self._standard(flow)
            return self.runtime.start_execution(
                flow_name, input, None if name is None else check_name(name, "ExecutionName"),
                callback_token=callback_token, qualifier=qualifier, definition=flow["definition"])
        try:
            return self.runtime.start_execution(
                flow_name, input, None if name is None else check_name(name, "ExecutionName"),
                callback_token=callback_token, qualifier=qualifier, standard_only=True)
        except (FlowNotExists, NonceReplayed):  # a replay is refused as such, whatever else is wrong
            raise
        except Exception:
            self._standard(self.store.get_flow(flow_name))  # what a read first would have said instead
            raise

    @staticmethod
    def _standard(flow: dict[str, Any]) -> None:
        if is_express(flow):
            raise InvalidArgument(f"the flow {flow['name']!r} is an Express flow: use StartSyncExecution")

    def start_express(self, flow_name: str, input: Any = None, name: str | None = None, *,  # noqa: A002
                      qualifier: str | None = None) -> tuple[Runtime, ExecutionRow]:
        """Start an Express flow's execution in memory; ``(runtime it runs on, row)``. ``name`` is only
        checked: in memory every run gets a fresh one."""
        if not is_express(self.store.get_flow(flow_name)):
            raise InvalidArgument(f"the flow {flow_name!r} is a Standard flow: use StartExecution")
        if name:
            check_name(name, "ExecutionName")
        express = self.express()
        for other in self.store.list_flows():  # child flows run in the same memory
            express.store.put_flow(other["name"], other["definition"], other["meta"], replace=True)
        return express, express.start_execution(flow_name, input, f"x{uuid.uuid4().hex}", qualifier=qualifier,
                                                versions=self.store)

    def start_sync(self, flow_name: str, input: Any = None, name: str | None = None, *,  # noqa: A002
                   qualifier: str | None = None, timeout: float = SYNC_SECONDS) -> ExecutionRow:
        """Run an Express flow to its end (``FnF.Timeout`` after ``timeout`` s); blocks this thread."""
        express, row = self.start_express(flow_name, input, name, qualifier=qualifier)
        row = express.wait(row.id, timeout)
        if row.status not in FINAL_STATUSES:
            express.stop_execution(row.id, "FnF.Timeout", f"a synchronous execution is limited to {timeout:g} seconds")
            row = express.wait(row.id, STOP_SECONDS)
        self.prune_express()
        return row

    async def start_sync_async(self, flow_name: str, input: Any = None, name: str | None = None, *,  # noqa: A002
                               qualifier: str | None = None, timeout: float = SYNC_SECONDS) -> ExecutionRow:
        """``start_sync`` for an event loop: holds no thread while the execution runs."""
        express, row = await anyio.to_thread.run_sync(
            lambda: self.start_express(flow_name, input, name, qualifier=qualifier))
        row = await self.wait_ended(row.id, timeout, runtime=express)
        if row.status not in FINAL_STATUSES:
            await anyio.to_thread.run_sync(express.stop_execution, row.id, "FnF.Timeout",
                                           f"a synchronous execution is limited to {timeout:g} seconds")
            row = await self.wait_ended(row.id, STOP_SECONDS, runtime=express)
        await anyio.to_thread.run_sync(self.prune_express)
        return row

    def express(self) -> Runtime:
        """The in-memory runtime of Express executions, started on first use."""
        with self._express_lock:
            if self._express is None:
                # untraced: its ids restart with the process, and traceparent_for names the main runtime's spans
                settings = dataclasses.replace(self.runtime.settings, telemetry=TelemetrySettings())
                self._express = Runtime(SQLiteStore.in_memory(), settings=settings)
                self.waiters.attach(self._express)
                self._express.start()
            return self._express

    def prune_express(self) -> int:
        """Forget ended Express executions beyond the newest ``express_keep``, or older than the window."""
        if self._express is None:
            return 0
        return self._express.store.prune_ended_executions(time.time() - self.express_keep_seconds,
                                                          self.express_keep)

    # -- reading --------------------------------------------------------------------------------------
    def describe(self, flow_name: str, name: str) -> ExecutionRow:
        """``FlowNotExists`` when the flow is the problem, else ``ExecutionNotExists``."""
        row = self.store.find_execution(flow_name, name)
        if row is None:
            self.store.get_flow(flow_name)
            raise ExecutionNotExists(f"the execution {name!r} of flow {flow_name!r} does not exist")
        return row

    def current_steps(self, row: ExecutionRow) -> list[str]:
        """Where a running execution is (state paths); nothing once it has ended."""
        return [] if row.status in FINAL_STATUSES else self.store.current_steps(row.id)

    def list(self, flow_name: str, *, status: str | None = None, name_prefix: str = "",  # noqa: A003
             started_from: float | None = None, started_to: float | None = None, qualifier: str | None = None,
             map_run: str = "", offset: int = 0, limit: int = 60) -> list[ExecutionRow]:
        """A flow's executions, oldest first, without their state."""
        self.store.get_flow(flow_name)
        if status and status not in STATUSES:
            raise InvalidArgument(f"Status {status!r} is not an execution status")
        return self.store.list_executions(flow_name=flow_name, status=status or None, name_prefix=name_prefix,
                                          started_from=started_from, started_to=started_to, offset=offset,
                                          limit=limit, with_state=False, map_run=map_run,
                                          **qualifier_filter(qualifier))

    def history(self, flow_name: str, name: str, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Events after event id ``after``, in order."""
        return self.store.history(self.describe(flow_name, name).id, after, limit)

    def logs(self, flow_name: str, name: str, step: str | None = None) -> list[dict[str, Any]]:
        """What each function invocation printed (bounded), optionally of one step (its path or last name)."""
        row = self.describe(flow_name, name)
        return [entry for entry in self.store.task_logs(row.id)
                if step is None or entry["step"] == step or entry["step"].rsplit("/", 1)[-1] == step]

    def redrive(self, flow_name: str, name: str) -> ExecutionRow:
        """RedriveExecution: carry on from where it failed (``app/redrive.py``)."""
        return Redrives(self.runtime).redrive(flow_name, name)

    def redrive_status(self, row: ExecutionRow) -> tuple[str, str]:
        """``("REDRIVABLE", "")`` or ``("NOT_REDRIVABLE", why)``; ``row`` with its state."""
        return Redrives(self.runtime).status(row)

    # -- stopping and waiting ---------------------------------------------------------------------------
    def stop(self, flow_name: str, name: str, error: str = "", cause: str = "") -> ExecutionRow:
        """Ask a running execution to stop (what it started is cancelled too); the row as it was.
        Stopping what has ended changes nothing."""
        row = self.describe(flow_name, name)
        if row.status not in FINAL_STATUSES:
            self.runtime.stop_execution(row.id, error, cause)
        return row

    def wait(self, execution: ExecutionRow | int, timeout: float | None = None) -> ExecutionRow:
        """The execution once it has ended, or as it is when ``timeout`` runs out; blocks this thread."""
        execution_id = execution if isinstance(execution, int) else execution.id
        return self.runtime.wait(execution_id, timeout)

    async def wait_ended(self, execution_id: int, timeout: float, *, runtime: Runtime | None = None) -> ExecutionRow:
        """``wait`` for an event loop: sleeps on the runtime's wake-ups, holds no thread."""
        runtime = runtime or self.runtime
        deadline = anyio.current_time() + timeout
        with self.waiters.watch(("execution", id(runtime), execution_id)) as woken:
            while True:
                row = await anyio.to_thread.run_sync(runtime.store.get_execution, execution_id)
                remaining = deadline - anyio.current_time()
                if row.status in FINAL_STATUSES or remaining <= 0:
                    return row
                await Waiters.sleep(woken, min(remaining, Waiters.recheck(self.recheck_seconds)))

    async def stop_async(self, flow_name: str, name: str, error: str = "", cause: str = "") -> ExecutionRow:
        """Stop, and wait a few seconds for the end so the answer says Stopped."""
        row = await anyio.to_thread.run_sync(self.stop, flow_name, name, error, cause)
        if row.status not in FINAL_STATUSES:
            row = await self.wait_ended(row.id, STOP_SECONDS)
        return row

    async def describe_async(self, flow_name: str, name: str, wait_seconds: float = 0) -> ExecutionRow:
        """``describe``, first waiting up to ``wait_seconds`` for the execution to end."""
        row = await anyio.to_thread.run_sync(self.describe, flow_name, name)
        if wait_seconds and row.status not in FINAL_STATUSES:
            row = await self.wait_ended(row.id, wait_seconds)
        return row

    def close(self) -> None:
        if self._express is not None:
            self._express.close()
