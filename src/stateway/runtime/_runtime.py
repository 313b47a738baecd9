"""Drives executions: claims due work, runs the interpreter, commits, dispatches the outbox.

One loop thread owns all interpreter runs (the store serialises commits anyway); integrations
run on a thread pool, and their results come back as inbox events, never as direct state changes.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from stateway import telemetry
from stateway.engine import Interpreter, check_execution_input, new_execution_state
from stateway.engine.messages import Stop, TaskResult, event_from_wire
from stateway.fdl import Flow, load_flow
from stateway.jsontext import InvalidJSONValue, check_value
from stateway.runtime import _metrics as metrics
from stateway.runtime._admission import Admission
from stateway.runtime._batches import Batches
from stateway.runtime._clock import SYSTEM_CLOCK, Clock
from stateway.runtime._context import RuntimeContext
from stateway.runtime._continuing import InMemory
from stateway.runtime._cron import Cron
from stateway.runtime._dispatch_limits import DispatchLimits
from stateway.runtime._dispatcher import Dispatcher
from stateway.runtime._errors import InvalidArgument, TaskAlreadyCompleted
from stateway.runtime._fairness import Turns
from stateway.runtime._held import HeldResults
from stateway.runtime._leases import LeaseKeeper, new_owner_id
from stateway.runtime._qualifier import Resolved
from stateway.runtime._qualifier import resolve as resolve_qualifier
from stateway.runtime._registry import IntegrationRegistry
from stateway.runtime._retention import Housekeeping
from stateway.runtime._tokens import TaskRef, TokenSigner
from stateway.settings import Settings
from stateway.store import ExecutionAlreadyExists, ExecutionRow, Store, StoreUnavailable

__all__ = ["FINAL_STATUSES", "InvalidArgument", "Runtime", "TaskAlreadyCompleted"]

log = logging.getLogger("stateway.runtime")

EXECUTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
FINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped", "TimedOut"})
# on a shared store, a worker that found only a few due executions waits this long before it looks
# again, so that starts arriving one by one are claimed and committed in batches
GATHER_BELOW, GATHER_SECONDS = 8, 0.003


class Runtime(Batches, Dispatcher):
    def __init__(self, store: Store, *, registry: IntegrationRegistry | None = None,
                 settings: Settings | None = None, sweep_interval: float = 5.0,
                 clock: Clock | None = None, dispatch: Executor | None = None) -> None:
        if settings is not None and not isinstance(settings, Settings):
            raise TypeError("Runtime(settings=...) takes a stateway.settings.Settings (Settings.from_config(...))")
        self.store = store
        self.clock = clock or SYSTEM_CLOCK  # the only source of "now" for due work (a test passes a virtual one)
        self.settings = settings or Settings()
        self.signer = TokenSigner(store.get_secret())
        self._interpreters: dict[str, Interpreter] = {}
        self._wake = threading.Condition()
        self._woken = False  # a wake-up that came while the loop was busy: the next wait returns at once
        self._ended = threading.Condition()
        self.queue_changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pool = dispatch or ThreadPoolExecutor(max_workers=self.settings.dispatch_threads,
                                                    thread_name_prefix="stateway-dispatch")
        self._own_pool = dispatch is None  # a test's dispatcher runs everything; ours lets integrations pick
        self._inflight: set[int] = set()
        self._dispatch_attempts: dict[int, int] = {}
        self._inflight_lock = threading.Lock()
        self.memory: dict[int, InMemory] = {}  # continuing executions whose state this worker keeps (_continuing.py)
        self.held = HeldResults()  # synchronous task results waiting for the decision that consumes them
        self.batches_results = False  # held only while the loop runs (a stepped test harness completes them itself)
        self.sweep_interval = sweep_interval
        self.listeners: list[Callable[[int, list[dict[str, Any]]], None]] = []
        self.queue_listeners: list[Callable[[], None]] = []  # told of every queue change notify_queue hears
        self.turns = Turns()
        self.tracing: Any = None  # stateway.telemetry's listener while [telemetry] is on
        self._quarantined: set[int] = set()  # executions whose failure could not even be written
        # claims: this process's owner id and how long its claims last without renewal
        self.owner = new_owner_id()
        self.lease = self.settings.store.lease_seconds
        self._leases: LeaseKeeper | None = None
        self._takeovers_seen: dict[str, int] = {}
        # integrations see the engine through this narrow context, never the runtime itself
        self.context = RuntimeContext(self)
        self.registry = registry or IntegrationRegistry.default()
        self.registry.bind(self.context)
        if dispatch is None:  # each integration its own bounded pool: a slow one cannot hold the others' threads
            self._pool = DispatchLimits.for_runtime(self._pool, self.settings, self.registry)
        self.housekeeping = Housekeeping(self)  # retention sweep and bulk operations (runtime/_retention.py)
        self.admission = Admission(self)  # executions waiting for their flow's concurrency limit
        if store.shared:
            store.subscribe(self._on_notice)

    def _on_notice(self, topic: str) -> None:
        """A change written by another process (PostgreSQL NOTIFY)."""
        if topic == "queue":
            self.notify_queue()
        elif topic.startswith("ended"):  # "ended:<execution id>": wake waits and long polls on it
            with self._ended:
                self._ended.notify_all()
            _, _, execution_id = topic.partition(":")
            if execution_id.isdigit():
                self._tell_listeners(int(execution_id), [])
        else:
            self.notify()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Runtime:
        if self._thread is None:
            if not self.store.shared:
                self.store.release_claims(None)  # one process owns the file: old claims died with their process
            self._leases = LeaseKeeper(self.store, self.owner, self.lease, self.clock.now).start()
            self.tracing = self.tracing or telemetry.attach(self)
            self.registry.start()
            self.batches_results = True
            self._thread = threading.Thread(target=self._loop, name="stateway-runtime", daemon=True)
            self._thread.start()
            self.housekeeping.start()
            self.admission.start()
            self.sweep()
            self.adopt_outbox()
        return self

    def _count_takeovers(self) -> None:
        for kind, count in self.store.takeovers.items():
            seen = self._takeovers_seen.get(kind, 0)
            if count > seen:
                metrics.TAKEOVERS.labels(kind).inc(count - seen)
                self._takeovers_seen[kind] = count

    def adopt_outbox(self) -> int:
        """Dispatch outbox commands nobody holds: left by a crash, or by a worker whose lease ran out."""
        rows = self.store.claim_outbox(self.owner, self.clock.now(), self.lease)
        for outbox_id, execution_id, command in rows:
            self._submit(outbox_id, execution_id, command)
        if rows and self.store.shared:
            metrics.TAKEOVERS.labels("outbox").inc(len(rows))
        return len(rows)

    def close(self) -> None:
        self._stopping = True
        self.notify()
        self.housekeeping.stop()
        self.admission.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.registry.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        telemetry.detach(self, self.tracing)
        if self._leases is not None:
            self._leases.stop()
            try:  # hand our claims back now rather than when they expire
                self.store.release_claims(self.owner)
            except Exception:
                log.debug("claims not released at close; they expire", exc_info=True)

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def notify(self) -> None:
        self.turns.fresh_work = True
        with self._wake:
            self._woken = True
            self._wake.notify_all()

    def notify_queue(self) -> None:
        """Wake long-polling queue receivers."""
        with self.queue_changed:
            self.queue_changed.notify_all()
        for listener in self.queue_listeners:
            listener()

    # -- flows -------------------------------------------------------------------------------
    def flow_model(self, definition: str, *, checked: bool = False) -> Interpreter:
        """``checked``: also the integrations' checks against this process's configuration (a new
        or changed flow), which an execution under way is not failed for (its task fails instead)."""
        interp = self._interpreters.get(definition)
        if interp is None or checked:
            flow = self.load(definition) if checked else load_flow(definition, self.registry.modes(),
                                                                   self.registry.parameters())
            interp = Interpreter(flow, limits=self.settings.limits.table)
            self._interpreters[definition] = interp
        return interp

    def load(self, definition: str) -> Flow:
        return load_flow(definition, self.registry.modes(), **self.registry.validation())

    def register_flow(self, name: str, definition: str, meta: dict[str, Any] | None = None,
                      *, replace: bool | str = True) -> dict[str, Any]:
        self.flow_model(definition, checked=True)  # raises FlowDefinitionError before anything is stored
        return self.store.put_flow(name, definition, meta or {}, replace=replace)  # type: ignore[arg-type]

    # -- executions ------------------------------------------------------------------------------
    def start_execution(self, flow_name: str, execution_input: Any = None, name: str | None = None, *,
                        parent: tuple[int, str] | None = None, callback_token: str | None = None,
                        qualifier: str | None = None, versions: Any = None,
                        map_run: tuple[str, str, str, dict[str, Any]] | None = None,
                        definition: str | None = None, standard_only: bool = False) -> ExecutionRow:
        """``qualifier``: a version number or an alias of the flow, resolved in ``versions`` (a store;
        this runtime's own by default, the durable one for Express runs in memory). ``map_run``:
        (Map Run name, definition, flow version, context) of a distributed Map's child, whose name the
        engine made; context: its starting ``globals`` and ``$Context.Map``. ``definition``: the flow's
        current definition when the caller has just read it (so a start reads its flow once).
        ``standard_only``: the store reads the flow with the start and refuses an Express one."""
        if name is None:
            name = f"exec-{uuid.uuid4().hex[:24]}"
        elif map_run is None and not EXECUTION_NAME.match(name):
            raise InvalidArgument(f"execution name {name!r} must match [A-Za-z_][A-Za-z0-9_-]{{0,127}}")
        execution_input = {} if execution_input is None else execution_input
        if not isinstance(execution_input, dict):
            raise InvalidArgument("the execution input must be a JSON object")
        try:
            check_execution_input(execution_input, self.settings.limits.table)
        except InvalidJSONValue as exc:
            raise InvalidArgument(f"the execution input: {exc}") from None
        pinned = (resolve_qualifier(versions or self.store, flow_name, qualifier, name) if map_run is None
                  else Resolved(map_run[1], map_run[2], ""))
        if pinned.definition is not None and map_run is None:
            self.flow_model(pinned.definition)  # a version's snapshot was valid when published; fail clearly if not
        elif pinned.definition is None and definition is not None:
            pinned = Resolved(definition, "", "")
        row, created = self.store.create_execution(
            flow_name, name, execution_input, self.clock.now(), parent_id=parent[0] if parent else None,
            parent_task=parent[1] if parent else None, callback_token=callback_token,
            definition=pinned.definition, flow_version=pinned.flow_version, qualifier=pinned.qualifier,
            map_run=map_run[0] if map_run else "", standard_only=standard_only,
            state=None if map_run is None else {**new_execution_state(name, flow_name, execution_input, self.clock.now()),
                                                **map_run[3]})
        if created:
            metrics.EXECUTIONS_STARTED.inc()
            self.admission.started(row)
            self.notify()
        return row

    def stop_execution(self, execution_id: int, error: str = "", cause: str = "") -> ExecutionRow:
        row = self.store.get_execution(execution_id)
        if row.status in FINAL_STATUSES:
            return row
        self.store.add_event(execution_id, Stop(error, cause).to_wire())
        self.notify()
        return row

    def wait(self, execution_id: int, timeout: float | None = None) -> ExecutionRow:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # the status alone: every execution's end wakes us, and the full row may be large
            if self.store.execution_status(execution_id) in FINAL_STATUSES:
                return self.store.get_execution(execution_id)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return self.store.get_execution(execution_id)
            with self._ended:
                self._ended.wait(timeout=0.2 if remaining is None else min(0.2, remaining))

    # -- callbacks ---------------------------------------------------------------------------------
    def verify_token(self, token: str) -> TaskRef:
        return self.signer.verify(token)

    def report_success(self, token: str, output: Any) -> int:
        if not isinstance(output, dict):
            raise InvalidArgument("Output must be a JSON object")
        try:
            check_value(output)
        except InvalidJSONValue as exc:
            raise InvalidArgument(f"Output: {exc}") from None
        ref = self.signer.verify(token)
        return self._report(ref, TaskResult.success(ref.task_id, output))

    def report_failure(self, token: str, error: str, cause: str = "") -> int:
        if not isinstance(error, str) or not 1 <= len(error) <= 128:
            raise InvalidArgument("Error must be 1 to 128 characters")
        if cause is not None and len(cause) > 4096:
            raise InvalidArgument("Cause must be at most 4096 characters")
        ref = self.signer.verify(token)
        return self._report(ref, TaskResult.failure(ref.task_id, error, cause or ""))

    def _report(self, ref: TaskRef, event: TaskResult) -> int:
        if not self.store.complete_task(ref.execution_id, ref.task_id, event.to_wire()):
            raise TaskAlreadyCompleted(f"the task {ref.task_id} of execution {ref.execution_name!r} is already "
                                       "completed")
        self.notify()
        return int(ref.task_id)

    def complete_task(self, execution_id: int, task_id: str, event: TaskResult | dict[str, Any]) -> bool:
        """``event``: a ``TaskResult``, or its wire form (read and checked here, ``MessageError`` if wrong)."""
        result = event_from_wire(event) if isinstance(event, dict) else event
        if not isinstance(result, TaskResult):
            raise TypeError(f"a task completes with a TaskResult, not {result!r}")
        done = self.store.complete_task(execution_id, task_id, result.to_wire())
        self.notify()
        return done

    # -- the loop -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        last_sweep = last_schedules = last_adopt = time.monotonic()
        backoff = 0.1
        while not self._stopping:
            now = self.clock.now()
            with self._wake:  # what arrives from here on is seen by this claim or wakes the wait below
                self._woken = False
            try:
                due = self.run_round(now)
                self._count_takeovers()
                if time.monotonic() - last_schedules > 0.25:
                    last_schedules = time.monotonic()
                    self.fire_schedules(now)
                if time.monotonic() - last_sweep > self.sweep_interval:
                    last_sweep = time.monotonic()
                    self.sweep()
                if time.monotonic() - last_adopt > self.lease / 4:
                    last_adopt = time.monotonic()
                    self.adopt_outbox()
            except StoreUnavailable as exc:  # the database is away: back off, the claims say what is ours
                log.warning("store unavailable: %s", exc)
                backoff = min(backoff * 2, 5.0)
                with self._wake:
                    self._wake.wait(timeout=backoff)
                continue
            except Exception:  # the store itself failed (process() ends a bad execution on its own)
                log.exception("runtime loop error")
                due = []
                time.sleep(0.1)  # a store that keeps failing is not retried in a hot loop
            backoff = 0.1
            if due:
                if self.store.shared and len(due) < GATHER_BELOW:
                    time.sleep(GATHER_SECONDS)  # let a few more arrive: a batch costs about what one does
                continue
            try:
                next_due = self.store.next_due()
            except StoreUnavailable:
                next_due = None
            # due work we could not claim is another worker's: look again soon, not in a busy loop
            delay = 0.5 if next_due is None else max(0.05 if self.store.shared else 0.0,
                                                     min(0.5, next_due - self.clock.now()))
            if delay > 0:
                with self._wake:
                    if not self._woken:
                        self._wake.wait(timeout=delay)

    def run_round(self, now: float) -> list[int]:
        """One round of the loop (runtime/_fairness.py): every execution with fresh work, then one
        continuing execution's turn. The executions claimed (the loop's own, or a stepped test's)."""
        self.turns.fresh_work = False  # anything arriving from here on cuts a continuing turn short
        due = self.store.claim_executions(self.owner, now, 64, self.lease, exclude=self._quarantined,
                                          also=self.held.executions())
        this_round = self.turns.this_round(due)
        # a streak kept in memory keeps its claim: released, it would go back to its stored state
        later = sorted(set(due) - set(this_round) - set(self.memory))
        if later:  # continuing executions beyond this round's one: free for any worker meanwhile
            self.store.release_executions(later, self.owner)
        # fresh work is committed before a continuing execution takes its turn, never after it
        fresh = [e for e in this_round if e not in self.turns.continuing]
        continuing = [e for e in this_round if e in self.turns.continuing]
        decided = self.process_batch(fresh)
        for execution_id, decision in decided.items():
            self.turns.record(execution_id, decision)
        if self.turns.hand_over(decided, continuing):  # what the woken threads start cuts the turn short
            self._let_woken_threads_run()
        for execution_id, decision in self.process_batch(continuing).items():
            self.turns.record(execution_id, decision)
        return due

    def _let_woken_threads_run(self) -> None:
        """Wait, GIL released, until fresh work arrives or the hand-over times out (``_fairness.py``).
        On ``fresh_work``, not ``_woken``: what set it also cuts the continuing turn short."""
        with self._wake:
            self._wake.wait_for(lambda: self.turns.fresh_work or self._stopping, timeout=self.turns.handoff_seconds)

    # -- sweep ---------------------------------------------------------------------------------------
    def sweep(self) -> int:
        """Level-triggered cancel: children and open tasks whose owner has ended.

        The edge-triggered path (a stop's cancel commands) covers the normal case; this covers a
        crash between a stop and its cancels, and a child that started while its parent stopped.
        The parent link is written with the child's row, so no child escapes it."""
        count = 0
        for child in self.store.orphan_executions():
            parent = self.store.get_execution(child.parent_id) if child.parent_id else None
            why = f"parent {parent.flow_name}/{parent.name} ended {parent.status}" if parent else "parent ended"
            self.stop_execution(child.id, "FnF.TaskCancelled", why)
            count += 1
        for outbox_id, command in self.store.close_orphan_tasks(self.owner, self.clock.now() + self.lease):
            self._submit(outbox_id, command.pop("execution_id"), command)
            count += 1
        return count

    def fire_schedules(self, now: float) -> int:
        """Start an execution for each enabled schedule that is due. The execution's name is derived
        from the firing time, so a firing repeated after a crash finds the one already started."""
        fired = 0
        for schedule in self.store.due_schedules(now):
            moment = schedule["next_fire"]
            label = re.sub(r"[^A-Za-z0-9_-]", "-", schedule["name"])[:80]
            try:
                payload = json.loads(schedule["payload"] or "{}")
                self.start_execution(schedule["flow_name"], payload if isinstance(payload, dict) else {},
                                     f"schedule-{label}-{int(moment)}")
                fired += 1
            except ExecutionAlreadyExists:
                pass
            except Exception:
                log.exception("schedule %s of flow %s could not start", schedule["name"], schedule["flow_name"])
            self.store.advance_schedule(schedule["flow_name"], schedule["name"], moment,
                                        Cron.parse(schedule["cron"]).next_after(max(now, moment)))
        return fired

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until every command is dispatched and no child execution still runs (for `stateway run`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sweep()
            busy = self.store.pending_outbox() or [r for r in self.store.list_executions(status="Running")
                                                   if r.parent_id is not None]
            if not busy:
                return True
            time.sleep(0.05)
        return False
