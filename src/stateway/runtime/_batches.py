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
from stateway.runtime._continuing import CHECKPOINT_SECONDS, CONTINUE, InMemory, memory_only
from stateway.runtime._fairness import DECISION_SECONDS, is_transient, poison_decision
from stateway.runtime._held import HeldResult
from stateway.runtime._tokens import TaskRef
from stateway.store import DecisionCommit, ExecutionRow, LeaseLost, ResultGateClosed, StoreUnavailable

log = logging.getLogger("stateway.runtime")

_POISONED: Any = object()  # a batch member that was failed on its own instead of committed
_GATE_CLOSED: Any = object()  # a batch member whose held result found its task completed by another report
BATCH_BYTES = 8 * 1024 * 1024  # history detail a batch holds before it is committed (one decision's worth)


class Batches:
    """Needs from ``Runtime``: store, clock, owner, lease, turns, signer, listeners, flow_model,
    sweep, _submit, _ended, _quarantined, _gathering, record_map_ends."""

    def process(self, execution_id: int) -> Decision | None:
        """One turn of one execution (what ``process_batch`` does for many)."""
        return self.process_batch([execution_id]).get(execution_id)

    def process_batch(self, execution_ids: list[int]) -> dict[int, Decision | None]:
        """One turn each for claimed executions: each decides its due events (and the task results
        held for it in memory) within its own budget, then all commit in one transaction (one WAL
        flush for the batch on PostgreSQL). Any unexpected exception ends only its own execution
        ``FnF.RuntimeError`` (``_poisoned``), never a retry."""
        results: dict[int, Decision | None] = dict.fromkeys(execution_ids)
        if not execution_ids:
            return results
        now = self.clock.now()
        events_of = self.store.due_events_of(execution_ids, now)
        held = self.held.take(execution_ids)
        consumed_of: dict[int, list[HeldResult]] = {}  # held results each pending decision consumed
        try:
            self._process(execution_ids, events_of, held, consumed_of, now, results)
        finally:  # whatever was neither committed nor dropped waits for the next round
            for execution_id in {*held, *consumed_of}:
                self.held.give_back(execution_id, consumed_of.get(execution_id, []) + held.get(execution_id, []))
        return results

    def _process(self, execution_ids: list[int], events_of: dict[int, list[tuple[int, dict[str, Any]]]],
                 held: dict[int, list[HeldResult]], consumed_of: dict[int, list[HeldResult]], now: float,
                 results: dict[int, Decision | None]) -> None:
        memory = self.memory
        for x in execution_ids:
            if x in memory:  # the "continue" row that began its streak stays in the inbox: consumed in memory
                events_of[x] = [(i, e) for i, e in events_of.get(x, []) if i not in memory[x].inbox_ids]
        idle = [x for x in execution_ids if not events_of.get(x) and not held.get(x) and x not in memory]
        if idle:
            self.store.release_executions(idle, self.owner)
        busy = [x for x in execution_ids if events_of.get(x) or held.get(x) or x in memory]
        stored = [x for x in busy if x not in memory]
        rows = self.store.get_executions(stored) if stored else {}
        rows.update({x: memory[x].row for x in busy if x in memory})
        pending: list[tuple[DecisionCommit, float]] = []
        pending_bytes, batch_began = 0, time.monotonic()
        for execution_id in busy:
            row = rows.get(execution_id)
            if row is None:  # pruned meanwhile (an ended Express execution): nothing to decide
                self._drop_held(held.pop(execution_id, []))
                continue
            began = time.monotonic()
            memo = memory.pop(execution_id, None)  # back only if this turn, too, only goes on
            try:
                mine = sorted(held.pop(execution_id, []), key=lambda h: h.gate)  # submissions first, as decided
                commit, left, went_on = self._decide(execution_id, row, events_of.get(execution_id, []), now, mine,
                                                     memo)
                held[execution_id], consumed_of[execution_id] = left, mine[:len(mine) - len(left)]
            except Exception as exc:
                if is_transient(exc) or isinstance(exc, StoreUnavailable):
                    raise
                self._drop_held(mine)
                self._poisoned(execution_id, row, events_of.get(execution_id, []), now, exc)
                continue
            if went_on and (memo is None or time.monotonic() - memo.since < CHECKPOINT_SECONDS):
                self._keep_in_memory(commit, row, memo, now, began, results)
                continue
            pending.append((commit, began))
            pending_bytes += commit.decision.detail_bytes
            # what is decided is committed once it is big, or has waited a decision's time: a batch
            # never holds more in memory, nor keeps its first members waiting longer, than one turn
            if pending_bytes >= BATCH_BYTES or time.monotonic() - batch_began >= DECISION_SECONDS:
                self._commit_pending(pending, rows, events_of, held, consumed_of, now, results)
                pending, pending_bytes, batch_began = [], 0, time.monotonic()
        self._commit_pending(pending, rows, events_of, held, consumed_of, now, results)

    def _commit_pending(self, pending: list[tuple[DecisionCommit, float]], rows: dict[int, ExecutionRow],
                        events_of: dict[int, list[tuple[int, dict[str, Any]]]], held: dict[int, list[HeldResult]],
                        consumed_of: dict[int, list[HeldResult]], now: float,
                        results: dict[int, Decision | None]) -> None:
        if not pending:
            return
        try:
            outboxes: list[Any] = self.store.commit_batch([c for c, _ in pending], now, owner=self.owner,
                                                          lease=self.lease)
        except ResultGateClosed as closed:
            # another report of those tasks came first: their results are dropped (the second report of a
            # task changes nothing) and they decide again from what the store has; the others commit
            lost = set(closed.execution_ids)
            for execution_id in lost:
                self._drop_held(consumed_of.pop(execution_id, []))
            self.store.release_executions(sorted(lost), self.owner)
            self._commit_pending([p for p in pending if p[0].execution_id not in lost], rows, events_of, held,
                                 consumed_of, now, results)
            return
        except Exception as exc:
            if is_transient(exc) or isinstance(exc, StoreUnavailable):
                raise
            # one of them holds what the store refuses: alone, each finds out whether it is the one
            outboxes = [self._commit_alone(c, rows[c.execution_id], events_of.get(c.execution_id, []), now)
                        for c, _ in pending]
        # one process owns a SQLite store: the loop records the Map Run ends of this batch itself, at
        # once and together (no thread to wake, no lock to pass); a shared store's go to their thread
        self._gathering = not self.store.shared
        try:
            ended = self._hand_over(pending, outboxes, rows, held, consumed_of, results)
        finally:
            self._gathering = False
        if ended:  # each wait looks at its own execution: one wake-up for the whole batch
            with self._ended:
                self._ended.notify_all()
        self.record_map_ends()

    def _hand_over(self, pending: list[tuple[DecisionCommit, float]], outboxes: list[Any],
                   rows: dict[int, ExecutionRow], held: dict[int, list[HeldResult]],
                   consumed_of: dict[int, list[HeldResult]], results: dict[int, Decision | None]) -> bool:
        """What follows a batch's commit, member by member; whether any of them ended."""
        ended = False
        for (commit, began), outbox in zip(pending, outboxes, strict=True):
            mine = consumed_of.pop(commit.execution_id, [])
            if outbox is _POISONED or outbox is _GATE_CLOSED:
                self._drop_held(mine)
                continue
            if outbox is None:  # another worker holds it now and decides these events itself
                metrics.LEASES_LOST.inc()
                log.warning("lease on execution %s lost before commit; its events stay for the new owner",
                            commit.execution_id)
                # results held here are ours alone: tried again once the execution can be claimed
                held[commit.execution_id] = mine + held.get(commit.execution_id, [])
                continue
            self._settled(commit.outbox_done)
            results[commit.execution_id] = commit.decision
            row = rows[commit.execution_id]
            ended = ended or commit.decision.ended is not None
            try:
                self._after_commit(commit.execution_id, commit.decision, outbox, began, (row.name, row.flow_name),
                                   notify_ended=False)
            except Exception:  # committed already: whatever fails from here on is not the execution's doing
                log.exception("after the commit of execution %s", commit.execution_id)
        return ended

    def _commit_alone(self, commit: DecisionCommit, row: ExecutionRow, events: list[tuple[int, dict[str, Any]]],
                      now: float) -> Any:
        try:
            return self.store.commit_batch([commit], now, owner=self.owner, lease=self.lease)[0]
        except ResultGateClosed:
            self.store.release_executions([commit.execution_id], self.owner)
            return _GATE_CLOSED
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
                now: float, held: list[HeldResult], memo: InMemory | None = None
                ) -> tuple[DecisionCommit, list[HeldResult], bool]:
        """The commit of one turn, the held results it left for the next (it yielded first), and
        whether the turn only went on (``_continuing.memory_only``)."""
        try:
            interp = self.flow_model(row.definition)
        except FlowDefinitionError as exc:
            # a definition that stopped validating (e.g. an integration was removed): fail, don't loop
            state = row.state or new_execution_state(row.name, row.flow_name, row.input, row.started)
            decision = Decision(state={**state, "status": "Failed"},
                                ended={"status": "Failed", "output": None, "error": "FnF.InvalidArgument",
                                       "cause": str(exc)})
            return DecisionCommit(execution_id, [i for i, _ in events] + (memo.inbox_ids if memo else []), decision,
                                  [], outbox_done=[h.outbox_id for h in held]), [], False
        # a state stored by an earlier Stateway is upgraded; one from a newer Stateway raises (→ _poisoned);
        # a streak kept in memory goes on from its own state, which is this turn's alone
        state = memo.state if memo is not None else upgrade_state(
            row.state or new_execution_state(row.name, row.flow_name, row.input, row.started))

        def mint(task_id: str) -> str:
            return self.signer.mint(TaskRef(row.flow_name, execution_id, row.name, task_id))

        merged: Decision | None = None
        consumed: list[int] = []
        gated: list[str] = []
        done: list[int] = []
        should_yield = self.turns.should_yield(execution_id)
        # held submissions (``held`` has them first), then inbox order (results and stops are due at 0, before
        # a "continue"), then held results, then the streak's own "continue" last, as its inbox row would come
        items: list[tuple[int, dict[str, Any], HeldResult | None]] = [(0, h.event, h) for h in held if not h.gate]
        items += [(i, e, None) for i, e in events]
        items += [(0, h.event, h) for h in held if h.gate]
        if memo is not None:
            items.append((-1, CONTINUE, None))
        taken, went_on = 0, False
        for inbox_id, event, result in items:
            if result is not None:
                taken += 1
                done.append(result.outbox_id)
                if result.gate and result.task_id in state.get("tasks", {}):  # else closed already: no gate
                    gated.append(result.task_id)
            elif inbox_id == -1:
                assert memo is not None
                consumed += memo.inbox_ids
                went_on = True
            else:
                consumed.append(inbox_id)
                went_on = went_on or event.get("type") == "continue"
            # the state was just read from the store (or made by the previous decision): ours to hand over
            decision = interp.decide(state, event_from_wire(event), now, mint, owned=True, should_yield=should_yield)
            state = decision.state
            merged = decision if merged is None else _merge(merged, decision)
            if decision.yielded or should_yield():
                break  # the rest of its events wait for its next turn
        assert merged is not None
        extra: list[dict[str, Any]] = []
        if merged.ended is not None and row.callback_token:
            extra.append(Report.of_end(row.callback_token, merged.ended).to_wire())
        commit = DecisionCommit(execution_id, consumed, merged, extra, gated_tasks=gated, outbox_done=done)
        new = [i for i in consumed if memo is None or i not in memo.inbox_ids]
        return commit, held[taken:], memory_only(commit, went_on, new, dict(events))

    def _keep_in_memory(self, commit: DecisionCommit, row: ExecutionRow, memo: InMemory | None, now: float,
                        began: float, results: dict[int, Decision | None]) -> None:
        """A turn that only went on: its history written (fenced, the claim kept), its state kept here."""
        decision = commit.decision
        if not self.store.append_history(commit.execution_id, decision.history, now, owner=self.owner,
                                         lease=self.lease):
            metrics.LEASES_LOST.inc()
            log.warning("lease on execution %s lost during a turn kept in memory; the new owner re-runs it",
                        commit.execution_id)
            return
        self.memory[commit.execution_id] = InMemory(row, decision.state,
                                                    memo.inbox_ids if memo else list(commit.consumed),
                                                    memo.since if memo else time.monotonic())
        results[commit.execution_id] = decision
        try:
            self._after_commit(commit.execution_id, decision, [], began, (row.name, row.flow_name))
        except Exception:
            log.exception("after the turn of execution %s", commit.execution_id)

    def _drop_held(self, results: list[HeldResult]) -> None:
        """Results no decision will take (their execution ended, or their task was completed first):
        their dispatch is done all the same."""
        for result in results:
            try:
                self.store.outbox_done(result.outbox_id)
            except Exception:  # stays claimed by us: dispatched again after a restart, and dropped then
                log.warning("outbox row %s not deleted", result.outbox_id, exc_info=True)
        self._settled([r.outbox_id for r in results])

    def _after_commit(self, execution_id: int, merged: Decision, outbox: list[tuple[int, dict[str, Any]]],
                      began: float, names: tuple[str, str], *, notify_ended: bool = True) -> None:
        """``notify_ended``: wake the waits on ends now (a batch wakes them once, after its last member)."""
        for outbox_id, command in outbox:
            self._submit(outbox_id, execution_id, command, names)
        if merged.history:
            self._tell_listeners(execution_id, merged.history)
        if merged.ended is not None:
            self.admission.ended()
            if notify_ended:
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
