"""The Map Run behind a distributed Map (versions-and-maprun.md §4.5-§4.9).

The engine plans the run (items, batches, settings) and hands it over as one WaitForSystemCallback
task. This integration keeps the run in the store, starts children in item order within the
concurrency, hears each child's end through its callback token (``maprun:<run>:<index>``), applies
the failure tolerance, and completes the Map's task once.

Cost per child is what makes a Map of 10,000 items scale: the ends that dispatcher threads report
at about the same time are recorded together (``_combined.Combined``), and one transaction records
them, deletes their outbox rows, and creates the children they free (``map_items_ended``). Every
step is idempotent and each transaction leaves the run consistent, so a crash at any point loses
nothing: an unrecorded end's outbox row is dispatched again, and ``start`` repairs the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from stateway.engine import MAP_RUN_ACTION, map_run_name
from stateway.engine._errors import StateFailure
from stateway.engine._maprun import children_of
from stateway.expr import EvaluationError, compile_template
from stateway.integrations._combined import Combined
from stateway.integrations._item_reader import read_items, write_results, writer_root
from stateway.jsontext import dumps, loads
from stateway.runtime._outcomes import Completed, Failed, IntegrationError, Outcome, Submitted, TaskCall
from stateway.runtime._registry import Integration
from stateway.store import ExecutionAlreadyExists, ItemEnd, map_child, tolerance_exceeded

log = logging.getLogger("stateway.maprun")
# a reported end: (Map Run, the end, its outbox row, what to call once it is recorded)
_Reported = tuple[str, ItemEnd, int, Callable[[], None]]
THRESHOLD = "FnF.ExceedToleratedFailureThreshold"


class _ItemEnv:
    """$Item and the Map's $Input for an ItemConstructor built outside the engine."""

    def __init__(self, item: Any, map_input: Any) -> None:
        self.values = {"Item": item, "Input": map_input}

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else str(value)


class MapRun(Integration):
    action = MAP_RUN_ACTION
    modes = frozenset({"WaitForSystemCallback"})

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._ends: Combined[tuple[ItemEnd, int | None]] = Combined(self._record)
        # ends from report_later: held for record_held, or queued for the own thread
        self._held: list[_Reported] = []
        self._later: list[_Reported] = []
        self._later_changed = threading.Condition()
        self._recorder: threading.Thread | None = None
        self._closing = False

    def close(self) -> None:
        with self._later_changed:
            self._closing = True
            self._later_changed.notify_all()
        if self._recorder is not None:
            self._recorder.join(timeout=5)

    def start(self) -> None:
        runs = self.context.map_runs
        for name in runs.running_map_runs():
            try:
                self.reconcile(name)
            except Exception:
                log.exception("Map Run %s could not be reconciled", name)
        for name in runs.unsettled_map_runs():  # ended, but a crash came before its Map heard of it
            try:
                self._resettle(name)
            except Exception:
                log.exception("Map Run %s could not be settled", name)

    def invoke(self, call: TaskCall) -> Outcome:
        p = call.parameters
        name = p["mapRunName"]
        parent = self.context.executions.get_execution(call.execution_id)
        run = {"name": name, "execution_id": call.execution_id, "task_id": call.task_id,
               "flow_name": parent.flow_name, "flow_version": parent.flow_version, "concurrency": p["concurrency"],
               "tolerated_count": p.get("toleratedFailureCount"),
               "tolerated_percentage": p.get("toleratedFailurePercentage"),
               "execution_mode": p["executionMode"], "definition": p["definition"],
               "globals": dumps(p.get("globals") or {}), "writer": dumps(p["writer"]) if p.get("writer") else None}
        failure = None
        try:
            if p.get("writer"):
                writer_root(self._buckets(), p["writer"])
        except IntegrationError as exc:
            failure = (exc.error, exc.cause)
        if failure is not None:
            children, weights = [], []
        elif "reader" in p:  # items from files: read here, where I/O belongs (§5.4)
            try:
                children, weights = self._read(p)
            except IntegrationError as exc:
                children, weights, failure = [], [], (exc.error, exc.cause)
        else:
            children, weights = p["children"], p["itemCounts"]
        created = self.context.map_runs.create_map_run(run, children, weights)
        if p.get("redriveOf") and failure is None:  # a redriven Map: what succeeded before is not run again
            self.context.map_runs.carry_over_map_run(name, p["redriveOf"])
        if failure is not None and created:  # a read error fails the run with Total 0, before any child
            if self.context.map_runs.finish_map_run(name, "Failed", *failure) is not None:
                self._complete(name, ok=False, error=failure[0], cause=failure[1])
        self.check(name)
        return Submitted({"MapRunName": name})

    def _read(self, p: dict[str, Any]) -> tuple[list[Any], list[int]]:
        build = p["build"]
        # stops reading at MaxItems, or past the item limit (then fails): memory is bounded by the limit
        items = read_items(p["reader"], self._buckets(), max_items=build.get("maxItems"),
                           item_limit=build["itemLimit"])
        template = compile_template(build["itemConstructor"]) if build.get("itemConstructor") else None

        def construct(item: Any) -> Any:
            if template is None:
                return item
            try:
                return template.build(_ItemEnv(item, build["mapInput"]))
            except EvaluationError as exc:
                raise IntegrationError("FnF.InvalidArgument", f"ItemConstructor: {exc.message}") from None

        try:
            return children_of(items, construct, build.get("batch"), build.get("maxItems"), build["itemLimit"],
                               build["payloadLimit"])
        except StateFailure as exc:
            raise IntegrationError(exc.error, exc.cause) from None

    def cancel(self, call: TaskCall, reason: str) -> str:
        name = map_run_name(call.execution_name, call.task_id)  # a cancel command carries no parameters
        running = self.context.map_runs.finish_map_run(name, "Aborted", None, None)
        if running is None:
            return f"Map Run {name} had ended"
        self._stop_children(name, running, f"the Map Run was aborted: {reason}")
        return f"aborted Map Run {name}; stopped {len(running)} running children"

    # -- children ----------------------------------------------------------------------------------
    def _start_children(self, name: str, items: list[tuple[int, Any]]) -> None:
        """One by one, for items marked running whose child may not exist (``reconcile``); the names
        make it idempotent. Normal starts are ``map_items_ended``'s, many per transaction."""
        if not items:
            return
        run = self.context.map_runs.get_map_run(name)
        for idx, child_input in items:
            child, token, state = map_child(run, idx, child_input, self.context.now())
            try:
                self.context.start_child(run["flow_name"], child_input, child,
                                         parent=(run["execution_id"], run["task_id"]), callback_token=token,
                                         map_run=(name, run["definition"], run["flow_version"],
                                                  {"globals": state["globals"], "map": state["map"]}))
            except ExecutionAlreadyExists:  # it ended before a crash let us hear of it
                row = self.context.executions.find_execution(run["flow_name"], child)
                if row is not None:
                    self._ended(name, [_end_of(idx, row.status, row.output, row.error, row.cause)])

    def _stop_children(self, name: str, indexes: list[int], cause: str) -> None:
        run = self.context.map_runs.get_map_run(name)
        for idx in indexes:
            row = self.context.executions.find_execution(run["flow_name"], f"{name}-{idx}")
            if row is not None:
                self.context.stop_execution(row.id, "FnF.TaskCancelled", cause)

    def child_ended(self, token_rest: str, command: dict[str, Any], outbox_id: int | None = None) -> bool:
        """A child's end, reported by its outbox row ``outbox_id``. Returns once the end is recorded,
        with the ends other threads reported meanwhile; True: the outbox row was deleted with it."""
        name, _, idx = token_rest.rpartition(":")
        end = _end_of(int(idx), command["status"], command.get("output"), command.get("error"), command.get("cause"))
        self._ends.submit(name, (end, outbox_id))
        return outbox_id is not None

    def report_later(self, command: dict[str, Any], outbox_id: int, done: Callable[[], None], *,
                     hold: bool = False) -> None:
        """A child's end (its outbox row's ``report`` command), recorded soon with every end reported
        meanwhile; the caller (the runtime's loop) does not wait, and no dispatcher thread is taken.
        ``hold``: until ``record_held`` (the loop records a batch's ends itself, on a store no other
        process shares: no thread to hand them to); else on this integration's own thread. ``done``
        is called once it is recorded (and its outbox row deleted); until then the row stays, and
        after a crash it is dispatched again."""
        name, _, idx = command["token"].partition(":")[2].rpartition(":")
        end = _end_of(int(idx), command["status"], command.get("output"), command.get("error"), command.get("cause"))
        with self._later_changed:
            if self._closing:
                return  # the row stays, claimed by this process until it releases or its lease ends
            if hold:
                self._held.append((name, end, outbox_id, done))
                return
            self._queue_later([(name, end, outbox_id, done)])

    def record_held(self) -> None:
        """Record the ends ``report_later`` held, on this thread; those that fail go to the own thread."""
        with self._later_changed:
            held, self._held = self._held, []
        failed = self._record_all(held)
        if failed:
            with self._later_changed:
                self._queue_later(failed)

    def _queue_later(self, entries: list[_Reported]) -> None:
        """Under ``_later_changed``."""
        self._later += entries
        if self._recorder is None:
            self._recorder = threading.Thread(target=self._record_later, name="stateway-maprun", daemon=True)
            self._recorder.start()
        self._later_changed.notify()

    def _record_all(self, entries: list[_Reported]) -> list[_Reported]:
        """Each run's ends in one transaction; returns the entries of runs whose transaction failed."""
        runs: dict[str, list[_Reported]] = {}
        for entry in entries:
            runs.setdefault(entry[0], []).append(entry)
        failed: list[_Reported] = []
        for name, mine in runs.items():
            try:
                self._ended(name, [e[1] for e in mine], [e[2] for e in mine])
            except Exception:
                log.exception("ends of Map Run %s not recorded; trying again", name)
                failed += mine
                continue
            for entry in mine:
                entry[3]()
        return failed

    def _record_later(self) -> None:
        backoff = 0.1
        while True:
            with self._later_changed:
                while not self._later and not self._closing:
                    self._later_changed.wait()
                if self._closing:
                    return
                queued, self._later = self._later, []
            failed = self._record_all(queued)
            if failed:
                with self._later_changed:
                    self._later[:0] = failed
                    self._later_changed.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                backoff = 0.1

    def _record(self, name: str, reported: list[tuple[ItemEnd, int | None]]) -> None:
        self._ended(name, [end for end, _ in reported], [i for _, i in reported if i is not None])

    def _ended(self, name: str, ends: list[ItemEnd], outbox_done: list[int] | None = None) -> None:
        run, started, waiting = self.context.map_runs.map_items_ended(name, ends, self.context.now(),
                                                                      outbox_done=outbox_done or ())
        if run is None:  # deleted with its execution: nobody to tell
            return
        self.context.children_started(run["flow_name"], started, waiting)
        self._settle(run)

    def reconcile(self, name: str) -> None:
        """After a restart: children marked running that never started are started (names make it
        idempotent), and ends that were not heard are read from the children's rows."""
        runs, executions = self.context.map_runs, self.context.executions
        self._start_children(name, runs.running_map_items(name))
        run = runs.get_map_run(name)
        ends = []
        for idx, _ in runs.running_map_items(name):
            row = executions.find_execution(run["flow_name"], f"{name}-{idx}")
            if row is not None and row.status not in ("Running", "Starting"):
                ends.append(_end_of(idx, row.status, row.output, row.error, row.cause))
        self._ended(name, ends)

    def _resettle(self, name: str) -> None:
        """A run that ended while its Map's task stayed open: stop what still runs, complete the task."""
        run = self.context.map_runs.get_map_run(name)
        if run["status"] == "Aborted":  # the Map's task was cancelled: nothing waits for it
            return
        running = [r for r in self.context.executions.list_executions(
            run["flow_name"], status="Running", map_run=name, with_state=False)]
        for row in running:
            self.context.stop_execution(row.id, "FnF.TaskCancelled", "the Map Run failed")
        self._complete(name, ok=run["status"] == "Succeeded", error=run["error"] or "", cause=run["cause"] or "")

    # -- the run's progress ------------------------------------------------------------------------
    def check(self, name: str) -> None:
        """Start what the concurrency allows, then settle: tolerance first, then the end."""
        self._ended(name, [])

    def _settle(self, run: dict[str, Any]) -> None:
        if run["status"] != "Running":
            return
        name, store = run["name"], self.context.map_runs
        if tolerance_exceeded(run):
            error, cause = self._failure(run)
            running = store.finish_map_run(name, "Failed", error, cause)
            if running is not None:
                self._stop_children(name, running, "the Map Run failed")
                self._complete(name, ok=False, error=error, cause=cause)
        elif run["n_pending"] == 0 and run["n_running"] == 0:
            if store.finish_map_run(name, "Succeeded", only_if_done=True) is not None:
                self._complete(name, ok=True)

    def _failure(self, run: dict[str, Any]) -> tuple[str, str]:
        count, percentage = run["tolerated_count"], run["tolerated_percentage"]
        if count is None and percentage is None:  # no tolerance: the first failure is the Map's, as inline
            return self.context.map_runs.first_map_failure(run["name"])
        counts = run["counts"]
        return THRESHOLD, (f"MapRun {run['name']}: {counts['Failed']} of {counts['Total']} items failed, more than "
                           f"tolerated (ToleratedFailureCount={_fmt(count)}, "
                           f"ToleratedFailurePercentage={_fmt(percentage)})")

    def _buckets(self) -> dict[str, str]:
        return dict(self.context.settings.oss_buckets)

    def _complete(self, name: str, *, ok: bool, error: str = "", cause: str = "") -> None:
        store = self.context.map_runs
        run = store.get_map_run(name)
        summary = {"MapRunName": name, "ItemCounts": run["counts"]}
        output: Any = None
        if run["writer"] and run["counts"]["Total"]:
            records = [{"Index": i, "ExecutionName": f"{name}-{i}", "Status": status.capitalize(), "Input": inp,
                        "Output": out, "Error": err, "Cause": cause_}
                       for i, status, inp, out, err, cause_ in store.map_run_records(name)]
            try:
                output = write_results(self._buckets(), loads(run["writer"]), name, records,
                                       {"MapRunName": name, "Status": run["status"], "ItemCounts": run["counts"]})
            except (IntegrationError, OSError) as exc:
                ok, error, cause = False, getattr(exc, "error", "OSS.WriteFailed"), getattr(exc, "cause", str(exc))
        outcome: Completed | Failed = (Completed(output if output is not None else
                                                 {"Items": store.map_run_results(name)}) if ok else Failed(error, cause))
        self.context.complete_task(run["execution_id"], run["task_id"], outcome, extra={"map_run": summary})

    # -- UpdateMapRun --------------------------------------------------------------------------------
    def update(self, name: str, concurrency: int | None, tolerated_count: int | None,
               tolerated_percentage: float | None) -> dict[str, Any] | None:
        updated = self.context.map_runs.update_map_run(name, concurrency, tolerated_count, tolerated_percentage)
        if updated is not None:
            self.check(name)  # a lowered threshold can fail the run now; a raised concurrency starts more
        return updated


def _end_of(idx: int, status: str, output: Any, error: str | None, cause: str | None) -> ItemEnd:
    return idx, status == "Succeeded", output, error or f"FnF.Execution{status}", cause or ""
