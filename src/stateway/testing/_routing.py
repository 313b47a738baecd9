"""The integrations a test's runtime sees: one per action, answering from the test's mocks, else from the
in-memory services (child flows, the built-in queue), else from real ones when the test opted in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stateway.engine import MAP_RUN_ACTION
from stateway.engine.messages import TaskResult
from stateway.runtime import Completed, Failed, Integration, Outcome, Submitted, TaskCall

if TYPE_CHECKING:
    from stateway.runtime import Runtime
    from stateway.testing._harness import Harness

# in-process in a test's engine: a child flow (or a distributed Map's children) is another execution in the
# same in-memory store, a message lands in the in-memory queue. Nothing leaves the test, so they need no mock.
IN_MEMORY_ACTIONS = frozenset({"FNF:StartExecution", "MNS:SendMessage", MAP_RUN_ACTION})


def routed(action: str, modes: frozenset[str], real: type[Integration] | None, harness: Harness) -> type[Integration]:
    class Routed(Integration):
        def __init__(self, runtime: Runtime) -> None:
            super().__init__(runtime)
            self._real: Integration | None = None

        def real(self) -> Integration | None:
            if self._real is None and real is not None:
                self._real = real(self.runtime)
                self._real.start()
            return self._real

        def invoke(self, call: TaskCall) -> Outcome:
            return harness.invoke(self, call)

        def cancel(self, call: TaskCall, reason: str) -> str:
            if harness.ran_for_real(call):
                integration = self.real()
                return integration.cancel(call, reason) if integration else "nothing to cancel"
            return "the mocked task was cancelled"

        def close(self) -> None:
            if self._real is not None:
                self._real.close()

        def __getattr__(self, name: str) -> Any:
            # what the runtime asks of an integration beyond invoke/cancel (a Map Run hears its children end)
            if name.startswith("_") or not harness.serves_for_real(action):
                raise AttributeError(name)
            integration = self.real()
            if integration is None:
                raise AttributeError(name)
            return getattr(integration, name)

    Routed.action = action
    Routed.modes = modes
    Routed.__name__ = Routed.__qualname__ = f"Routed[{action}]"
    return Routed


def outcome_of(answer: Any, call: TaskCall, later: Any) -> Outcome:
    """A mock's answer as the integration's outcome. A callback-mode task is submitted first and completed right
    after (``later``), so its history reads as a real one: TaskSubmitted, then TaskSucceeded or TaskFailed."""
    if answer.kind == "later":
        return Submitted()
    if call.mode == "RequestComplete":
        return Completed(answer.output) if answer.kind == "return" else Failed(answer.error, answer.cause)
    later(answer)
    return Submitted()


def answer_event(task: str, answer: Any) -> TaskResult:
    """A mock's (or a recorded history's) answer to a callback-mode task, as the result its token reports."""
    if answer.kind == "return":
        return TaskResult.success(task, answer.output)
    return TaskResult.failure(task, answer.error, answer.cause, submit_failed=answer.kind == "submit_failed")
