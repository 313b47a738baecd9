"""The pure interpreter: (execution state, one event) → (history, commands, new state)."""

from stateway.engine._errors import ERROR_ALL, TASK_CANCELLED, TIMEOUT, matches_error
from stateway.engine._interpreter import Decision, Interpreter, new_execution_state

__all__ = [
    "ERROR_ALL",
    "TASK_CANCELLED",
    "TIMEOUT",
    "Decision",
    "Interpreter",
    "matches_error",
    "new_execution_state",
]
