"""The pure interpreter: (execution state, one event) → (history, commands, new state)."""

from stateway.engine._errors import ERROR_ALL, TASK_CANCELLED, TIMEOUT, matches_error
from stateway.engine._interpreter import (
    DEFAULT_LIMITS,
    Decision,
    Interpreter,
    check_execution_input,
    new_execution_state,
)
from stateway.engine._maprun import MAP_RUN_ACTION, map_run_name
from stateway.engine.messages import (
    Cancel,
    CancelResult,
    Command,
    Continue,
    Event,
    Invoke,
    MessageError,
    Report,
    Start,
    Stop,
    TaskResult,
    TaskSubmitted,
    TimerFired,
    command_from_wire,
    event_from_wire,
)
from stateway.engine.state import STATE_VERSION, ExecutionState, Frame, StateVersionError, upgrade_state

__all__ = [
    "DEFAULT_LIMITS",
    "STATE_VERSION",
    "ExecutionState",
    "Frame",
    "StateVersionError",
    "upgrade_state",
    "Cancel",
    "CancelResult",
    "Command",
    "Continue",
    "Event",
    "Invoke",
    "MessageError",
    "Report",
    "Start",
    "Stop",
    "TaskResult",
    "TaskSubmitted",
    "TimerFired",
    "command_from_wire",
    "event_from_wire",
    "check_execution_input",
    "ERROR_ALL",
    "MAP_RUN_ACTION",
    "TASK_CANCELLED",
    "TIMEOUT",
    "Decision",
    "Interpreter",
    "map_run_name",
    "matches_error",
    "new_execution_state",
]
