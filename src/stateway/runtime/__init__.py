"""Drives executions durably: the loop, the dispatcher, task tokens and the integration registry."""

from stateway.runtime._clock import SYSTEM_CLOCK, Clock, SystemClock
from stateway.runtime._context import IntegrationContext, MapChild, RuntimeContext
from stateway.runtime._outcomes import (
    Completed,
    Failed,
    IntegrationError,
    Outcome,
    SubmitFailed,
    Submitted,
    TaskCall,
)
from stateway.runtime._registry import Integration, IntegrationRegistry
from stateway.runtime._runtime import FINAL_STATUSES, InvalidArgument, Runtime, TaskAlreadyCompleted
from stateway.runtime._tokens import InvalidTaskToken, TaskRef, TokenSigner

__all__ = [
    "FINAL_STATUSES",
    "SYSTEM_CLOCK",
    "Clock",
    "SystemClock",
    "Completed",
    "Failed",
    "Integration",
    "IntegrationContext",
    "IntegrationError",
    "IntegrationRegistry",
    "InvalidArgument",
    "InvalidTaskToken",
    "MapChild",
    "Outcome",
    "Runtime",
    "RuntimeContext",
    "Submitted",
    "SubmitFailed",
    "TaskAlreadyCompleted",
    "TaskCall",
    "TaskRef",
    "TokenSigner",
]
