"""Correlation keys at dispatch: a WaitForCustomCallback task with ``CorrelationKey.$`` claims its key
among its flow's open tasks before its integration runs; a key another open task holds fails it with
``FnF.DuplicateCorrelationKey`` (which Retry and Catch match)."""

from __future__ import annotations

from typing import Any

from stateway.engine.messages import TaskResult

DUPLICATE_CORRELATION_KEY = "FnF.DuplicateCorrelationKey"


def key_refused(runtime: Any, execution_id: int, call: Any, key: str) -> bool:
    """Claim ``key`` for the task; True when it could not (the task is failed then)."""
    holder = runtime.store.claim_task_key(call.flow_name, key, execution_id, call.execution_name, call.task_id)
    if holder is None:
        return False
    try:
        holder_name = runtime.store.get_execution(holder[0]).name
    except Exception:
        holder_name = str(holder[0])
    cause = (f"the correlation key {key!r} is held by task {holder[1]} of execution {holder_name!r}, still open in "
             f"flow {call.flow_name!r}")
    runtime.complete_task(execution_id, call.task_id, TaskResult.failure(call.task_id, DUPLICATE_CORRELATION_KEY,
                                                                         cause, submit_failed=True))
    return True
