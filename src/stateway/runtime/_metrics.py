"""Prometheus metrics of the engine and the API (one set per process, on its default registry).

Made on first use: ``stateway run`` and the CLI start without importing prometheus_client."""

from __future__ import annotations

import threading
from typing import Any

_made: dict[str, Any] = {}
_making = threading.Lock()  # threads use their first metric at once: register each one only once


def _make() -> None:
    from prometheus_client import Counter, Gauge, Histogram

    with _making:
        if not _made:
            _register(Counter, Gauge, Histogram)


def _register(Counter: Any, Gauge: Any, Histogram: Any) -> None:  # noqa: N803  (the classes)
    _made.update(
        EXECUTIONS_STARTED=Counter("stateway_executions_started", "Executions started"),
        EXECUTIONS_ENDED=Counter("stateway_executions_ended", "Executions ended, by final status", ["status"]),
        DECISIONS=Counter("stateway_decisions", "Decisions committed (rate: decisions/s)"),
        DECISION_SECONDS=Histogram(
            "stateway_decision_seconds", "Time to decide and commit one execution's due events",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)),
        LEASES_LOST=Counter("stateway_leases_lost", "Commits refused because the claim had expired or moved"),
        TAKEOVERS=Counter("stateway_lease_takeovers", "Work taken over from a worker whose lease ran out",
                          ["kind"]),
        OUTBOX_DEPTH=Gauge("stateway_outbox_depth", "Commands waiting to be dispatched"),
        DUE_LAG=Gauge("stateway_due_work_lag_seconds", "How late the oldest due timer is"),
        QUEUE_DEPTH=Gauge("stateway_queue_depth", "Messages in the built-in queues"),
        TASKS_OPEN=Gauge("stateway_tasks_open", "Task attempts waiting for their result (running or awaiting a callback)"),
        API_SECONDS=Histogram("stateway_api_seconds", "API request latency, by action", ["action"]),
        # fn: a new function instance (a process that imports its handler), by function
        FUNCTION_COLD_STARTS=Counter("stateway_function_cold_starts", "Function instances started (cold starts)",
                                     ["function"]),
        RETENTION_DELETED=Counter("stateway_retention_deleted",
                                  "Ended executions deleted by the retention sweep (rate: its pace)"),
        RETENTION_RATE=Gauge("stateway_retention_sweep_rate",
                             "Executions deleted per second by the last retention sweep that deleted any"),
        BULK_EXECUTIONS=Counter("stateway_bulk_executions", "Executions a bulk operation went through, by "
                                "operation and outcome (done, skipped, failed)", ["operation", "outcome"]),
        # limits: executions waiting (status Starting) for their flow's concurrency limit, by flow
        WAITING_EXECUTIONS=Gauge("stateway_waiting_executions",
                                 "Executions waiting for a slot under their flow's concurrency limit", ["flow"]),
    )
    for kind in ("execution", "invocation", "outbox"):  # shown as 0 before the first one, not absent
        _made["TAKEOVERS"].labels(kind)


def __getattr__(name: str) -> Any:
    if not _made:
        _make()
    try:
        return _made[name]
    except KeyError:
        raise AttributeError(name) from None
