"""The pure interpreter: (execution state, one event) → (history, commands, new state)."""

from stateway.engine._errors import ERROR_ALL, TASK_CANCELLED, TIMEOUT, matches_error
from stateway.engine._interpreter import (
    DEFAULT_LIMITS,
    Decision,
    Interpreter,
    check_execution_input,
    new_execution_state,
)

__all__ = [
    "DEFAULT_LIMITS",
    "check_execution_input",
    "ERROR_ALL",
    "TASK_CANCELLED",
    "TIMEOUT",
    "Decision",
    "Interpreter",
    "matches_error",
    "new_execution_state",
]
