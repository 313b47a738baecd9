"""The loop's unit of work: claimed executions decided in memory, committed together in one
transaction, and what follows a commit (the outbox handed to the dispatcher, listeners told).
A mixin of ``Runtime``; any unexpected exception ends only its own execution (``_poisoned``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from stateway.engine import Decision, new_execution_state
from stateway.engine.messages import Report, event_from_wire
from stateway.engine.state import StateVersionError, upgrade_state
from stateway.fdl import FlowDefinitionError
from stateway.runtime import _metrics as metrics
from stateway.runtime._fairness import DECISION_SECONDS, is_transient, poison_decision
from stateway.runtime._tokens import TaskRef
from stateway.store import DecisionCommit, ExecutionRow, LeaseLost, StoreUnavailable

log = logging.getLogger("stateway.runtime")

_POISONED: Any = object()  # a batch member that was failed on its own instead of committed
BATCH_BYTES = 8 * 1024 * 1024  # history detail a batch holds before it is committed (one decision's worth)


class Batches:
    """Needs from ``Runtime``: store, clock, owner, lease, turns, signer, listeners, flow_model,
    sweep, _submit, _ended, _quarantined."""

    def process(self, execution_id: int) -> Decision | None:
        """One turn of one execution (what ``process_batch`` does for many)."""
        return self.process_batch([execution_id]).get(execution_id)

    def process_batch(self, execution_ids: list[int]) -> dict[int, Decision | None]:
        """One turn each for claimed executions: each decides its due events within its own budget,
        then all commit in one transaction (one WAL flush for the batch on PostgreSQL). Any unexpected
        exception ends only its own execution ``FnF.RuntimeError`` (``_poisoned``), never a retry."""
        results: dict[int, Decision | None] = dict.fromkeys(execution_ids)
        if not execution_ids:
            return results
        now = self.clock.now()
        events_of = self.store.due_events_of(execution_ids, now)
        idle = [x for x in execution_ids if not events_of.get(x)]
        if idle:
            self.store.release_executions(idle, self.owner)
        busy = [x for x in execution_ids if events_of.get(x)]
        rows = self.store.get_executions(busy) if busy else {}
        pending: list[tuple[DecisionCommit, float]] = []
        pending_bytes, batch_began = 0, time.monotonic()
        for execution_id in busy:
            row = rows.get(execution_id)
            if row is None:  # pruned meanwhile (an ended Express execution): nothing to decide
                continue
            began = time.monotonic()
            try:
                commit = self._decide(execution_id, row, events_of[execution_id], now)
            except Exception as exc:
                if is_transient(exc) or isinstance(exc, StoreUnavailable):
                    raise
                self._poisoned(execution_id, row, events_of[execution_id], now, exc)
                continue
            pending.append((commit, began))
            pending_bytes += commit.decision.detail_bytes
            # what is decided is committed once it is big, or has waited a decision's time: a batch
            # never holds more in memory, nor keeps its first members waiting longer, than one turn
            if pending_bytes >= BATCH_BYTES or time.monotonic() - batch_began >= DECISION_SECONDS:
                self._commit_pending(pending, rows, events_of, now, results)
                pending, pending_bytes, batch_began = [], 0, time.monotonic()
        self._commit_pending(pending, rows, events_of, now, results)
        return results

    def _commit_pending(self, pending: list[tuple[DecisionCommit, float]], rows: dict[int, ExecutionRow],
                        events_of: dict[int, list[tuple[int, dict[str, Any]]]], now: float,
                        results: dict[int, Decision | None]) -> None:
        if not pending:
            return
        try:
            outboxes: list[Any] = self.store.commit_batch([c for c, _ in pending], now, owner=self.owner,
                                                          lease=self.lease)
        except Exception as exc:
            if is_transient(exc) or isinstance(exc, StoreUnavailable):
                raise
            # one of them holds what the store refuses: alone, each finds out whether it is the one
            outboxes = [self._commit_alone(c, rows[c.execution_id], events_of[c.execution_id], now)
                        for c, _ in pending]
        for (commit, began), outbox in zip(pending, outboxes, strict=True):
            if outbox is _POISONED:
                continue
            if outbox is None:  # another worker holds it now and decides these events itself
                metrics.LEASES_LOST.inc()
                log.warning("lease on execution %s lost before commit; its events stay for the new owner",
                            commit.execution_id)
                continue
            results[commit.execution_id] = commit.decision
            try:
                self._after_commit(commit.execution_id, commit.decision, outbox, began)
            except Exception:  # committed already: whatever fails from here on is not the execution's doing
                log.exception("after the commit of execution %s", commit.execution_id)

    def _commit_alone(self, commit: DecisionCommit, row: ExecutionRow, events: list[tuple[int, dict[str, Any]]],
                      now: float) -> Any:
        try:
            return self.store.commit_batch([commit], now, owner=self.owner, lease=self.lease)[0]
        except Exception as exc:
            if is_transient(exc) or isinstance(exc, StoreUnavailable):
                raise
            self._poisoned(commit.execution_id, row, events, now, exc)
            return _POISONED

    def _poisoned(self, execution_id: int, row: ExecutionRow, events: list[tuple[int, dict[str, Any]]],
                  now: float, exc: Exception) -> None:
        log.error("execution %s/%s (id %s) hit an unexpected error and ends Failed with FnF.RuntimeError",
                  row.flow_name, row.name, execution_id, exc_info=exc)
        state = row.state or new_execution_state(row.name, row.flow_name, row.input, row.started)
        try:
            state = upgrade_state(state)
        except StateVersionError:  # from a newer Stateway (the error being written): ended as it stands
            pass
        decision = poison_decision(state, exc, now)
        extra: list[dict[str, Any]] = []
        if row.callback_token:
            extra.append(Report.of_end(row.callback_token, decision.ended).to_wire())  # type: ignore[arg-type]
        try:  # its own transaction: every due event is consumed, so a restart does not bring the loop back
            outbox = self.store.commit(execution_id, [i for i, _ in events], decision, now, extra, owner=self.owner,
                                       lease=self.lease)
        except LeaseLost:  # another worker holds it now: it meets the same error and writes the failure itself
            return
        except Exception:
            log.exception("the failure of execution %s could not be written; it is set aside until a restart",
                          execution_id)
            self._quarantined.add(execution_id)
            try:  # another worker (on a shared store) may manage to write it
                self.store.release_executions([execution_id], self.owner)
            except Exception:
                log.debug("the claim on execution %s was not released; it expires", execution_id, exc_info=True)
            return
        for outbox_id, command in outbox:
            self._submit(outbox_id, execution_id, command)
        self._tell_listeners(execution_id, decision.history)
        self.sweep()  # its open tasks and children: cancelled as for any ended execution
        with self._ended:
            self._ended.notify_all()

    def _tell_listeners(self, execution_id: int, history: list[dict[str, Any]]) -> None:
        for listener in self.listeners:
            try:
                listener(execution_id, history)
            except Exception:
                log.exception("a history listener failed")

    def _decide(self, execution_id: int, row: ExecutionRow, events: list[tuple[int, dict[str, Any]]],
                now: float) -> DecisionCommit:
        try:
            interp = self.flow_model(row.definition)
        except FlowDefinitionError as exc:
            # a definition that stopped validating (e.g. an integration was removed): fail, don't loop
            state = row.state or new_execution_state(row.name, row.flow_name, row.input, row.started)
            decision = Decision(state={**state, "status": "Failed"},
                                ended={"status": "Failed", "output": None, "error": "FnF.InvalidArgument",
                                       "cause": str(exc)})
            return DecisionCommit(execution_id, [i for i, _ in events], decision, [])
        # a state stored by an earlier Stateway is upgraded; one from a newer Stateway raises (→ _poisoned)
        state = upgrade_state(row.state or new_execution_state(row.name, row.flow_name, row.input, row.started))

        def mint(task_id: str) -> str:
            return self.signer.mint(TaskRef(row.flow_name, execution_id, row.name, task_id))

        merged: Decision | None = None
        consumed: list[int] = []
        should_yield = self.turns.should_yield(execution_id)
        for inbox_id, event in events:
            # the state was just read from the store (or made by the previous decision): ours to hand over
            decision = interp.decide(state, event_from_wire(event), now, mint, owned=True, should_yield=should_yield)
            consumed.append(inbox_id)
            state = decision.state
            merged = decision if merged is None else _merge(merged, decision)
            if decision.yielded or should_yield():
                break  # the rest of its events wait for its next turn
        assert merged is not None
        extra: list[dict[str, Any]] = []
        if merged.ended is not None and row.callback_token:
            extra.append(Report.of_end(row.callback_token, merged.ended).to_wire())
        return DecisionCommit(execution_id, consumed, merged, extra)

    def _after_commit(self, execution_id: int, merged: Decision, outbox: list[tuple[int, dict[str, Any]]],
                      began: float) -> None:
        for outbox_id, command in outbox:
            self._submit(outbox_id, execution_id, command)
        if merged.history:
            self._tell_listeners(execution_id, merged.history)
        if merged.ended is not None:
            with self._ended:
                self._ended.notify_all()
        metrics.DECISIONS.inc()
        metrics.DECISION_SECONDS.observe(time.monotonic() - began)
        if merged.ended is not None:
            metrics.EXECUTIONS_ENDED.labels(merged.ended["status"]).inc()


def _merge(a: Decision, b: Decision) -> Decision:
    closed_timers = set(b.cancelled_timers)
    a.timers = [t for t in a.timers if t["timer"] not in closed_timers]
    closed_tasks = set(b.closed_tasks)
    return Decision(
        state=b.state,
        history=a.history + b.history,
        commands=a.commands + b.commands,
        timers=a.timers + b.timers,
        cancelled_timers=a.cancelled_timers + b.cancelled_timers,
        opened_tasks=[t for t in a.opened_tasks if t["task"] not in closed_tasks] + b.opened_tasks,
        closed_tasks=a.closed_tasks + b.closed_tasks,
        ended=b.ended or a.ended,
        yielded=b.yielded,
        detail_bytes=a.detail_bytes + b.detail_bytes,
    )
