"""Error names the engine raises and how Retry/Catch match them (fdl.md §5)."""

from __future__ import annotations

ERROR_ALL = "FnF.ALL"
TIMEOUT = "FnF.Timeout"
LEGACY_TIMEOUT = "FnF.TaskTimeout"
INVALID_ARGUMENT = "FnF.InvalidArgument"
DATA_LIMIT = "FnF.DataLimitExceeded"
TASK_CANCELLED = "FnF.TaskCancelled"
EVENTS_LIMIT = "FnF.EventsLimitExceeded"
RUNTIME_ERROR = "FnF.RuntimeError"  # an unexpected exception while deciding or committing an execution
_TIMEOUTS = (TIMEOUT, LEGACY_TIMEOUT)


def matches_error(patterns: tuple[str, ...], error: str) -> bool:
    if error == TASK_CANCELLED:
        return False  # cancellation is never retried nor caught, even by FnF.ALL
    for pattern in patterns:
        if pattern == ERROR_ALL or pattern == error:
            return True
        # one timeout, two spellings (fdl.md §5, fdl-v1.md §8.1): either name in a list matches either
        if pattern in _TIMEOUTS and error in _TIMEOUTS:
            return True
    return False


class StateFailure(Exception):
    """Raised inside the interpreter when a state fails with an FDL error name."""

    def __init__(self, error: str, cause: str) -> None:
        self.error = error
        self.cause = cause
        super().__init__(f"{error}: {cause}")
