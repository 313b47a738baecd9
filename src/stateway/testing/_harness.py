"""The engine a test drives: production runtime and store code on ``:memory:``, a virtual clock, mocked
integrations, and a loop the test steps on its own thread."""

from __future__ import annotations

import functools
import heapq
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stateway.app.redrive import Redrives
from stateway.node import build
from stateway.runtime import FINAL_STATUSES, Integration, IntegrationRegistry, TaskCall
from stateway.runtime._cron import Cron
from stateway.settings import Settings
from stateway.store import ExecutionRow, SQLiteStore
from stateway.testing._clock import DEFAULT_START, VirtualClock
from stateway.testing._dispatch import SteppedDispatch
from stateway.testing._mocks import (
    NO_ANSWER,
    Answer,
    Mock,
    MockCall,
    MockError,
    TaskFailure,
    UnmockedCall,
    build_mock,
    canonical,
    resource_of,
)
from stateway.testing._result import Result
from stateway.testing._routing import IN_MEMORY_ACTIONS, answer_event, outcome_of, routed

MAX_ROUNDS = 1_000_000  # rounds of work at one virtual moment before the harness calls it a livelock


@dataclass(frozen=True)
class PendingTask:
    """An open task of a running execution: answer it with ``handle.report_success(task, …)``."""

    state: str
    step: str
    action: str
    mode: str
    token: str
    task_id: str
    parameters: Any
    execution: str


class Harness:
    """What the ``stateway`` fixture gives a test. See docs/testing.md."""

    def __init__(self, *, start: float = DEFAULT_START, settings: Settings | Mapping[str, Any] | None = None,
                 real_timeout: float = 60.0) -> None:
        """``settings``: a ``Settings``, or a dict shaped like the config file (``{"limits": {...}}``,
        plus ``functions_dir``)."""
        self.clock = VirtualClock(start)
        self.store = SQLiteStore.in_memory()
        self.mocks: list[Mock] = []
        self.real_timeout = real_timeout
        self._real_actions: set[str] = set()
        self._real_tasks: dict[tuple[int, str], str] = {}  # (execution, task) → mode, for tasks real services run
        self._attempts: dict[tuple[int, str], int] = {}
        self._errors: list[BaseException] = []
        self._names = 0
        self._timed: list[tuple[float, int, Callable[[], Any]]] = []  # (moment, order, action): see at()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._dispatch = SteppedDispatch(self._in_background)
        classes = [routed(action, cls.modes, cls, self) for action, cls in _installed_integrations().items()]
        self.registry = IntegrationRegistry(classes)
        # the composition root of serve, run and worker, with the test's clock, dispatcher and mocks
        self.node = build(_settings(settings), store=self.store, clock=self.clock, dispatch=self._dispatch,
                          registry=self.registry)
        self.runtime = self.node.runtime
        self._closed = False

    # -- flows --------------------------------------------------------------------------------------
    def register(self, path_or_text: str | os.PathLike[str], name: str | None = None) -> str:
        """Register a flow (a file, or FDL text of either dialect) and return its name; a folder registers every
        ``*.yaml``/``*.yml`` in it (child flows) and returns the last name."""
        path = _as_path(path_or_text)
        if path is not None and path.is_dir():
            names = [self.register(p) for p in sorted(path.iterdir()) if p.suffix in (".yaml", ".yml", ".json")]
            if not names:
                raise FileNotFoundError(f"no flow (*.yaml, *.yml) in {path}")
            return names[-1]
        source = path.read_text() if path is not None else str(path_or_text)
        # parsed once: the runtime keeps the model it validated for the first decision
        flow_name = name or self.runtime.flow_model(source).flow.name or (path.stem if path is not None else None)
        if not flow_name:
            raise ValueError("this definition has no Name: register(text, name='…')")
        self.runtime.register_flow(flow_name, source)
        return flow_name

    def _flow(self, flow: str | os.PathLike[str]) -> str:
        text = os.fspath(flow)
        if "\n" not in text and _as_path(text) is None:
            return text  # a registered flow's name
        try:
            known = {f["definition"]: f["name"] for f in self.store.list_flows()}
            if "\n" in text and text in known:
                return known[text]
        except Exception:  # pragma: no cover
            pass
        return self.register(flow)

    # -- mocks --------------------------------------------------------------------------------------
    def mock(self, action: str | None = None, resource: str | None = None, *, state: str | None = None,
             returns: Any = None, raises: Any = None, responses: Iterable[Any] | None = None,
             handler: Callable[[MockCall], Any] | None = None, later: bool = False) -> Mock:
        """Answer calls of ``action`` (to ``resource``, or from ``state``) with ``returns`` (the task's output),
        ``raises=(error, cause)``, ``responses=[…]`` one per call in order, a ``handler(call)``, or
        ``later=True`` (the task stays open for ``handle.report_*``). The latest matching mock wins."""
        mock = build_mock(action, resource, state, returns=returns, raises=raises, responses=responses,
                          handler=handler, later=later)
        if mock.action is not None and mock.action not in self.registry:
            # an action no installed integration provides: the mock is its integration, in every mode
            cls = routed(mock.action, frozenset({"RequestComplete", "WaitForSystemCallback",
                                                 "WaitForCustomCallback"}), None, self)
            self.registry.add(cls)
        self.mocks.append(mock)
        return mock

    def mock_function(self, resource: str, handler: Callable[[Any, Any], Any] | str) -> Mock:
        """An FC function run in-process, as Function Compute would call it: ``handler(event, context)`` (or
        Python source defining ``handler``). Its return is ``$Output.Body``; an exception fails the task with
        ``FC.Unknown`` (raise TaskFailure for another name); an Async invocation in RequestComplete answers with
        a RequestId; in WaitForCustomCallback the task then waits for its callback."""
        function = _handler_of(handler, resource)
        name = resource.rstrip("/").rsplit("/", 1)[-1]

        def invoke(call: MockCall) -> Any:
            context = _FunctionContext(request_id=f"{call.execution}-{call.step}-{call.attempt}", function_name=name)
            asynchronous = str(call.parameters.get("invocationType", "Sync")).capitalize() == "Async"
            try:
                body = function(call.parameters.get("body", {}), context)
            except TaskFailure:
                raise
            except Exception as exc:
                if asynchronous and call.mode == "RequestComplete":
                    body = None  # nobody waits for a fire-and-forget invocation's result
                else:
                    raise TaskFailure("FC.Unknown", f"{type(exc).__name__}: {exc}") from None
            if asynchronous and call.mode == "RequestComplete":
                return {"RequestId": context.request_id}
            if call.mode == "WaitForCustomCallback":
                return NO_ANSWER
            return {"Body": body}

        return self.mock("FC:InvokeFunction", resource, handler=invoke)

    def use_mocks(self, config: Any, case: str, flow: str | None = None) -> list[Mock]:
        """Mocks from a Step Functions Local–style file (path, text or dict) for one test case."""
        from stateway.testing._mockfile import MockConfig

        loaded = config if isinstance(config, MockConfig) else MockConfig.load(config)
        mocks = loaded.mocks(case, flow)
        self.mocks.extend(mocks)
        return mocks

    def use_real_services(self, functions: str | os.PathLike[str] | None = None, *,
                          actions: Iterable[str] | None = None) -> None:
        """Opt in to real calls for unmocked tasks: local functions from ``functions`` (as ``stateway run
        --functions``), HTTP requests, installed plugins. Mocks still win where they match."""
        if functions is not None:
            # read when a real integration is first built, which is after this
            self.runtime.settings = self.runtime.settings.with_functions_dir(functions)
        wanted = set(self.registry.classes) if actions is None else {canonical(a) for a in actions}
        self._real_actions |= wanted

    def _find_mock(self, action: str, resource: str | None, state: str, step: str) -> Mock | None:
        for mock in reversed(self.mocks):
            if mock.matches(action, resource, state, step):
                return mock
        return None

    # -- what the routed integrations call ------------------------------------------------------------
    def invoke(self, integration: Any, call: TaskCall) -> Any:
        state = call.step.rsplit("/", 1)[-1]
        resource = resource_of(call.parameters)
        mock = self._find_mock(call.action, resource, state, call.step)
        key = (call.execution_id, call.step)
        with self._lock:
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
        if mock is not None:
            made = MockCall(action=call.action, resource=resource, state=state, step=call.step, mode=call.mode,
                            parameters=call.parameters, token=call.token, attempt=attempt, flow=call.flow_name,
                            execution=call.execution_name)
            try:
                answer = mock.answer(made)
            except Exception as exc:  # a broken mock is the test's problem: raise it there, fail the task here
                self._errors.append(exc if isinstance(exc, MockError) else MockError(
                    f"the handler of {mock.describe()} raised {type(exc).__name__}: {exc}"))
                if not isinstance(exc, MockError):
                    self._errors[-1].__cause__ = exc
                return outcome_of(Answer("throw", error="Stateway.MockError", cause=str(exc)), call, lambda a: None)
            return outcome_of(answer, call, lambda a: self._dispatch.later(lambda: self._complete(call, a)))
        if call.action in IN_MEMORY_ACTIONS or call.action in self._real_actions:
            real = integration.real()
            if real is not None:
                if call.action not in IN_MEMORY_ACTIONS:
                    with self._lock:
                        self._real_tasks[(call.execution_id, call.task_id)] = call.mode
                return real.invoke(call)
        message = (f"{call.action} {resource or '(no resource)'} from state {call.step!r} of flow {call.flow_name!r} "
                   f"has no mock. Mock it: stateway.mock({call.action!r}, resource={_short(resource)!r}, "
                   "returns={...}), or let the test call real services: stateway.use_real_services(functions_dir)")
        self._errors.append(UnmockedCall(message))
        return outcome_of(Answer("throw", error="Stateway.Unmocked", cause=message), call, lambda a: None)

    def _complete(self, call: TaskCall, answer: Answer) -> None:
        self.runtime.complete_task(call.execution_id, call.task_id, answer_event(call.task_id, answer))

    def serves_for_real(self, action: str) -> bool:
        return action in IN_MEMORY_ACTIONS or action in self._real_actions

    def ran_for_real(self, call: TaskCall) -> bool:
        return (call.execution_id, call.task_id) in self._real_tasks

    def _in_background(self, args: tuple[Any, ...]) -> bool:
        """Whether an outbox command goes to a real service (a thread), rather than the test's queue."""
        if len(args) < 3 or not isinstance(args[2], dict) or not self._real_actions:
            return False
        execution_id, command = args[1], args[2]
        action = command.get("action")
        if action in IN_MEMORY_ACTIONS or action not in self._real_actions:
            return False
        if command.get("kind") == "cancel":
            return (execution_id, command.get("task")) in self._real_tasks
        if command.get("kind") != "invoke":
            return False
        step = command.get("step", "")
        return self._find_mock(action, resource_of(command.get("parameters") or {}), step.rsplit("/", 1)[-1],
                               step) is None

    def _in_flight(self) -> bool:
        if self._dispatch.busy_in_background():
            return True
        with self._lock:
            tasks = list(self._real_tasks.items())
        for (execution_id, task_id), mode in tasks:
            if mode != "WaitForCustomCallback" and self.store.is_task_open(execution_id, task_id):
                return True
        return False

    # -- the loop, stepped ----------------------------------------------------------------------------------
    def run_until_blocked(self) -> None:
        """Do everything due at the current virtual time, until every execution waits on a timer, a callback or a
        real service. Raises what a mock or an unmocked call reported."""
        rounds = 0
        ended = False  # the sweep (orphaned children and tasks) has work only after an execution ended
        while True:
            rounds += 1
            if rounds > MAX_ROUNDS:
                raise MockError("the engine kept working at one virtual moment without blocking")
            now = self.clock.now()
            did = self.runtime.fire_schedules(now)
            for execution_id in self.claim_due(now):
                decision = self.runtime.process(execution_id)
                ended = ended or (decision is not None and decision.ended is not None)
                did += 1
            did += self._dispatch.run_queued()
            while self._timed and self._timed[0][0] <= now:
                heapq.heappop(self._timed)[2]()
                did += 1
            self._raise_reported()
            if not did:
                if not ended or not self.runtime.sweep():
                    return
                ended = False

    def claim_due(self, now: float, limit: int = 256) -> list[int]:
        """Claim what is due at virtual ``now``, as the runtime's loop does. A claim is fenced at commit against the
        real time (leases are about processes dying), while the virtual clock may be months behind it: hold the
        claims for an hour past the real time. Nobody else shares this in-memory store."""
        lease = max(0.0, time.time() - now) + 3600.0
        return self.store.claim_executions(self.runtime.owner, now, limit, lease)

    def _raise_reported(self) -> None:
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def next_due(self) -> float | None:
        """The next virtual moment something is due: a timer, a retry, a timeout, a schedule."""
        moments = [m for m in [self.store.next_due()] if m is not None]
        if self._timed:
            moments.append(self._timed[0][0])
        for flow in self.store.list_flows():
            moments += [s["next_fire"] for s in self.store.list_schedules(flow["name"])
                        if s["enable"] and s["next_fire"] is not None]
        return min(moments) if moments else None

    def advance(self, seconds: float) -> None:
        """Move the virtual clock ``seconds`` forward, doing every piece of due work at its own moment."""
        target = self.clock.now() + seconds
        self.run_until_blocked()
        while True:
            moment = self.next_due()
            if moment is None or moment > target:
                break
            self.clock.set(max(moment, self.clock.now()))
            self.run_until_blocked()
        self.clock.set(target)
        self.run_until_blocked()

    def at(self, moment: float, action: Callable[[], Any]) -> None:
        """Do ``action`` when the virtual clock reaches ``moment`` (e.g. a callback that comes in an hour)."""
        heapq.heappush(self._timed, (moment, next(self._order), action))

    def wait_for_real(self, timeout: float | None = None) -> bool:
        """Wait (real time) while real services are still working, doing their results as they come."""
        deadline = time.monotonic() + (self.real_timeout if timeout is None else timeout)
        self.run_until_blocked()
        while self._in_flight():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
            self.run_until_blocked()
        return True

    def finish(self, execution_id: int, *, until: float | None = None) -> ExecutionRow:
        """Run one execution to its end, skipping time to each next due moment (no further than ``until``)."""
        while True:
            self.run_until_blocked()
            row = self.store.get_execution(execution_id)
            if row.status in FINAL_STATUSES:
                return row
            if self._in_flight():
                if not self.wait_for_real():
                    raise TimeoutError(f"real services were still working after {self.real_timeout:g}s (real time)")
                continue
            moment = self.next_due()
            if moment is None or (until is not None and moment > until):
                return row
            self.clock.set(max(moment, self.clock.now()))

    # -- executions ----------------------------------------------------------------------------------
    def start(self, flow: str | os.PathLike[str], input: Any = None, name: str | None = None) -> Handle:
        """Start an execution and run it until it blocks; the handle drives it from there."""
        flow_name = self._flow(flow)
        if name is None:
            self._names += 1
            name = f"test-{self._names}"
        row = self.runtime.start_execution(flow_name, input if input is not None else {}, name)
        handle = Handle(self, row.id)
        self.run_until_blocked()
        return handle

    def run(self, flow: str | os.PathLike[str], input: Any = None, name: str | None = None) -> Result:
        """Run an execution to its end, skipping every wait, and return how it ended."""
        return self.start(flow, input, name).result()

    def result(self, execution_id: int) -> Result:
        row = self.store.get_execution(execution_id)
        children = [self.result(c.id) for c in self.store.list_executions(parent_id=execution_id)]
        return Result(row, self.store.history(execution_id, 0, 10**9), children)

    def executions(self, flow: str | None = None) -> list[Result]:
        return [self.result(r.id) for r in self.store.list_executions(flow_name=flow, with_state=False)]

    def schedule(self, flow: str, cron: str, *, name: str = "schedule", payload: Any = None,
                 enable: bool = True) -> dict[str, Any]:
        """A schedule on the virtual clock: it fires as ``advance`` passes its moments."""
        import json

        expression = Cron.parse(cron)
        now = self.clock.now()
        return self.store.put_schedule({
            "flow_name": self._flow(flow), "name": name, "id": str(uuid.uuid4()), "cron": expression.expression,
            "description": "", "enable": enable, "payload": json.dumps(payload or {}), "created": now,
            "modified": now, "next_fire": expression.next_after(now)}, create=True)

    def receive(self, queue: str, count: int = 16) -> list[dict[str, Any]]:
        """Take the visible messages of a built-in queue (what ``MNS:SendMessage`` sent); bodies JSON-decoded."""
        import json

        messages = self.store.receive_messages(queue, self.clock.now(), count, 30)
        out = []
        for message in messages:
            self.store.delete_message(queue, message["receipt_handle"])
            try:
                body = json.loads(message["body"])
            except ValueError:
                body = message["body"]
            out.append(body)
        return out

    def replay(self, history: Any, flow: str | os.PathLike[str] | None = None) -> Any:
        """Run an exported history against the current definition; the report names the first divergence."""
        from stateway.testing._replay import replay

        return replay(self, history, flow)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._real_actions:  # stop what is still running, so that no process outlives the test
                for row in self.store.list_executions(status="Running", with_state=False):
                    self.runtime.stop_execution(row.id, "Stateway.TestEnded", "the test ended")
                self._errors.clear()
                self.wait_for_real(5)
        finally:
            self.runtime.close()
            self.store.close()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Handle:
    """One execution, driven step by step. Every call that changes something runs the engine until it blocks."""

    def __init__(self, harness: Harness, execution_id: int) -> None:
        self.harness = harness
        self.execution_id = execution_id

    @property
    def row(self) -> ExecutionRow:
        return self.harness.store.get_execution(self.execution_id)

    @property
    def status(self) -> str:
        return self.row.status

    @property
    def name(self) -> str:
        return self.row.name

    def advance(self, seconds: float) -> Handle:
        self.harness.advance(seconds)
        return self

    def run_until_blocked(self) -> Handle:
        self.harness.run_until_blocked()
        return self

    def pending_tasks(self) -> list[PendingTask]:
        row = self.row
        parameters: dict[str, Any] = {}
        import json

        for event in self.harness.store.history(self.execution_id, 0, 10**9):
            if event["Type"] == "TaskScheduled":
                parameters[str(event["EventId"])] = json.loads(event["EventDetail"].get("parameters") or "null")
        return [PendingTask(state=t["state"], step=t["step"], action=t["action"], mode=t["mode"], token=t["token"],
                            task_id=t["task_id"], parameters=parameters.get(t["task_id"]), execution=row.name)
                for t in self.harness.store.open_tasks(self.execution_id)]

    def pending_task(self, state: str) -> PendingTask:
        tasks = [t for t in self.pending_tasks() if state in (t.state, t.step)]
        if len(tasks) != 1:
            open_ = ", ".join(t.step for t in self.pending_tasks()) or "none"
            raise AssertionError(f"{'no' if not tasks else len(tasks)} open task(s) at state {state!r} of "
                                 f"{self.row.flow_name}/{self.name} ({self.status}); open tasks: {open_}")
        return tasks[0]

    def _token(self, task: str | PendingTask) -> str:
        if isinstance(task, PendingTask):
            return task.token
        if task.startswith("sw1.") or "." in task and len(task) > 40:
            return task
        return self.pending_task(task).token

    def report_success(self, task: str | PendingTask, output: Any = None) -> Handle:
        """Answer an open task (a PendingTask, its token, or its state's name) with ``output``."""
        self.harness.runtime.report_success(self._token(task), {} if output is None else output)
        self.harness.run_until_blocked()
        return self

    def report_failure(self, task: str | PendingTask, error: str, cause: str = "") -> Handle:
        self.harness.runtime.report_failure(self._token(task), error, cause)
        self.harness.run_until_blocked()
        return self

    def stop(self, error: str = "", cause: str = "") -> Handle:
        self.harness.runtime.stop_execution(self.execution_id, error, cause)
        self.harness.run_until_blocked()
        return self

    def redrive(self) -> Handle:
        """RedriveExecution: carry on from where it failed (``ExecutionNotRedrivable`` if it cannot)."""
        row = self.row
        Redrives(self.harness.runtime).redrive(row.flow_name, row.name)
        self.harness.run_until_blocked()
        return self

    def result(self, *, until: float | None = None) -> Result:
        """Run to the end, skipping time (``until``: an absolute virtual moment not to pass)."""
        self.harness.finish(self.execution_id, until=until)
        return self.harness.result(self.execution_id)

    def snapshot(self) -> Result:
        """Where the execution is now, without running it further."""
        return self.harness.result(self.execution_id)

    def __repr__(self) -> str:
        row = self.row
        return f"<Handle {row.flow_name}/{row.name} {row.status}>"


@dataclass(frozen=True)
class _FunctionContext:
    request_id: str
    function_name: str

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


def _handler_of(handler: Callable[[Any, Any], Any] | str, resource: str) -> Callable[[Any, Any], Any]:
    if callable(handler):
        return handler
    namespace: dict[str, Any] = {"__name__": f"stateway_function_{abs(hash(resource))}"}
    exec(compile(handler, f"<function {resource}>", "exec"), namespace)
    if not callable(namespace.get("handler")):
        raise ValueError(f"the source given for {resource} defines no handler(event, context)")
    return namespace["handler"]


def _settings(value: Settings | Mapping[str, Any] | None) -> Settings:
    if isinstance(value, Settings):
        return value
    config = dict(value or {})
    functions_dir = config.pop("functions_dir", None)
    return Settings.from_config(config, functions_dir=functions_dir)


@functools.cache
def _installed_integrations() -> dict[str, type[Integration]]:
    """Built-ins and entry points, read once per process: each test's engine would otherwise scan them again."""
    return dict(IntegrationRegistry.default().classes)


def _as_path(value: Any) -> Path | None:
    if isinstance(value, Path):
        return value
    text = os.fspath(value)
    if "\n" in text or len(text) > 4096:
        return None
    path = Path(text)
    try:
        return path if path.exists() else None
    except OSError:  # one-line flow text (JSON) longer than a file name can be
        return None


def _short(resource: str | None) -> str:
    if resource and "functions/" in resource:
        return "functions/" + resource.split("functions/", 1)[1].split("/", 1)[0]
    return resource or ""


__all__ = ["Handle", "Harness", "Integration", "PendingTask"]
