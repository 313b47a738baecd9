"""Bulk operations: stop, redrive or delete every execution a filter selects, as a durable
background job (``runtime/_retention.py`` runs it; ``store/_sql_ops.py`` pages it by keyset, a page
per transaction). The job covers the executions that match when it is created; executions started
later are not part of it."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from stateway.app._checks import check_name
from stateway.runtime import InvalidArgument, Runtime
from stateway.store import BULK_OPERATIONS

STATUSES = ("Starting", "Running", "Succeeded", "Failed", "Stopped", "TimedOut")
JOB_ENDED = ("Succeeded", "Cancelled")


@dataclass(frozen=True)
class BulkFilter:
    """Which executions: all of these that are given (a flow is required)."""

    flow_name: str
    status: str | None = None
    name_prefix: str = ""
    started_from: float | None = None
    started_to: float | None = None
    error: str | None = None  # the error name it ended with
    map_run: str | None = None  # children of this distributed Map's run

    def check(self) -> BulkFilter:
        check_name(self.flow_name, "FlowName")
        if self.status and self.status not in STATUSES:
            raise InvalidArgument(f"Status {self.status!r} is not an execution status ({', '.join(STATUSES)})")
        if self.started_from is not None and self.started_to is not None and self.started_from > self.started_to:
            raise InvalidArgument("the start-time range is empty (started after is later than started before)")
        return self

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


class BulkOperations:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store

    def start(self, operation: str, selection: BulkFilter) -> dict[str, Any]:
        """Create the job (``stop``, ``redrive`` or ``delete``) and wake this process's runner; the job."""
        if operation not in BULK_OPERATIONS:
            raise InvalidArgument(f"Operation must be one of {', '.join(BULK_OPERATIONS)}, got {operation!r}")
        selection.check()
        self.store.get_flow(selection.flow_name)  # FlowNotExists
        job = self.store.create_bulk_operation(f"bulk-{uuid.uuid4().hex[:16]}", operation, selection.as_dict(),
                                               self.runtime.clock.now())
        self.runtime.housekeeping.wake()
        return job

    def describe(self, operation_id: str) -> dict[str, Any]:
        return self.store.get_bulk_operation(operation_id)

    def list(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:  # noqa: A003
        return self.store.list_bulk_operations(limit, status)

    def cancel(self, operation_id: str) -> dict[str, Any]:
        """Stop a running job after its current page; what it did stays done."""
        return self.store.cancel_bulk_operation(operation_id, self.runtime.clock.now())

    def wait(self, operation_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The job once it has ended, or as it is when ``timeout`` runs out."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.describe(operation_id)
            if job["status"] in JOB_ENDED or time.monotonic() >= deadline:
                return job
            time.sleep(0.05)
