"""What an integration answers when the dispatcher hands it a task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stateway.engine.messages import TaskResult, TaskSubmitted


@dataclass(frozen=True)
class Completed:
    """The task is done with this output (RequestComplete, or a wait that finished at once)."""

    output: Any
    logs: dict[str, Any] | None = None  # a reference to what the task printed, for its history event


@dataclass(frozen=True)
class Failed:
    error: str
    cause: str


@dataclass(frozen=True)
class Submitted:
    """The request was accepted; the task ends later, through its token."""

    output: Any = None
    logs: dict[str, Any] | None = None


@dataclass(frozen=True)
class SubmitFailed:
    error: str
    cause: str


Outcome = Completed | Failed | Submitted | SubmitFailed


def outcome_event(task: str, outcome: Outcome, *, aliases: tuple[str, ...] = (),
                  logs: dict[str, Any] | None = None) -> TaskResult | TaskSubmitted:
    """The inbox event that tells the execution what became of its task. ``aliases`` and ``logs``
    come from an ``IntegrationError``; an outcome's own ``logs`` take precedence."""
    logs = getattr(outcome, "logs", None) or logs
    if isinstance(outcome, Completed):
        return TaskResult.success(task, outcome.output, logs=logs)
    if isinstance(outcome, Failed):
        return TaskResult.failure(task, outcome.error, outcome.cause, aliases=aliases, logs=logs)
    if isinstance(outcome, SubmitFailed):
        return TaskResult.failure(task, outcome.error, outcome.cause, submit_failed=True, aliases=aliases, logs=logs)
    if isinstance(outcome, Submitted):
        return TaskSubmitted(task, outcome.output, logs=logs)
    raise TypeError(f"an integration answered {outcome!r}, not Completed, Failed, Submitted or SubmitFailed")


class IntegrationError(Exception):
    """Raised by integrations and services with an FDL error name (e.g. FC.FunctionNotFound).

    ``aliases`` are further names Retry/Catch ``Errors`` may match (a function's exception
    classes); the error's reported name stays ``error``."""

    def __init__(self, error: str, cause: str, aliases: tuple[str, ...] = ()) -> None:
        self.error = error
        self.cause = cause
        self.aliases = aliases
        self.logs: dict[str, Any] | None = None
        super().__init__(f"{error}: {cause}")


@dataclass(frozen=True)
class TaskCall:
    """One task attempt as an integration sees it."""

    execution_id: int
    execution_name: str
    flow_name: str
    task_id: str
    token: str
    action: str
    mode: str
    parameters: dict[str, Any]
    timeout: float | None
    step: str

    @property
    def key(self) -> str:
        """Stable across re-dispatch: the idempotency key of whatever the task starts."""
        return f"{self.execution_id}-{self.task_id}"
