"""OpenTelemetry traces of executions (docs/telemetry.md), optional: ``pip install stateway[telemetry]``.

One trace per execution, derived from what the runtime commits: a span per state, per task attempt
and per wait (a callback, a retry's backoff), child executions and distributed Map items linked to
the task that started them. Trace and span ids are computed from the execution, so every worker
(and every broker or worker library given a task token) names the same spans.

Without the extra, or with ``[telemetry] otlp_endpoint`` unset, nothing here does anything and
``traceparent_for`` answers None.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

from stateway.telemetry._ids import ROOT, TASK, TraceIds, token_task

log = logging.getLogger("stateway.telemetry")

_active: Any = None  # the Tracing of this process's runtime, when tracing is on
_current: contextvars.ContextVar[tuple[int, str | None] | None] = contextvars.ContextVar("stateway_task", default=None)


def available() -> bool:
    """Whether the ``telemetry`` extra (opentelemetry-sdk and the OTLP exporter) is installed."""
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def activate(tracing: Any) -> None:
    """Make ``tracing`` the one ``traceparent_for`` and the log lines use (None: none)."""
    global _active
    _active = tracing


def active() -> Any:
    return _active


def traceparent_for(token_or_execution: str | int, task_id: str | None = None) -> str | None:
    """The W3C ``traceparent`` of a task attempt, for whatever carries the task on (an HTTP
    header, a message attribute, a function's environment): given its task token, or an execution
    id and task id (without a task id: the execution's root span). None when tracing is off."""
    tracing = _active
    if tracing is None:
        return None
    if isinstance(token_or_execution, str):
        named = token_task(token_or_execution)
        if named is None:
            return None
        return tracing.traceparent(*named)
    return tracing.traceparent(int(token_or_execution), task_id)


def scoped(execution_id: int, task_id: str | None, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, run with the task as the current span of log lines (``log_ids``)."""
    if _active is None:
        return fn

    def run(*args: Any, **kwargs: Any) -> Any:
        token = _current.set((execution_id, task_id))
        try:
            return fn(*args, **kwargs)
        finally:
            _current.reset(token)
    return run


def log_ids(execution_id: int | None = None, task_id: str | None = None) -> dict[str, str]:
    """``{"trace_id", "span_id"}`` for a log line: of the execution (and task) given, else of the
    task this thread runs (see ``scoped``); empty when tracing is off or there is none."""
    tracing = _active
    if tracing is None:
        return {}
    if execution_id is None:
        current = _current.get()
        if current is None:
            return {}
        execution_id, task_id = current
    ids: TraceIds = tracing.ids
    span = ids.span_id(execution_id, TASK, task_id) if task_id else ids.span_id(execution_id, ROOT, 0)
    return {"trace_id": f"{ids.trace_id(execution_id):032x}", "span_id": f"{span:016x}"}


def attach(runtime: Any) -> Any:
    """Trace ``runtime`` as its settings' ``[telemetry]`` say: the Tracing, or None (off, or the
    extra is missing, which is logged once)."""
    config = runtime.settings.telemetry
    if not config.enabled:
        return None
    if not available():
        log.warning("[telemetry] otlp_endpoint is set but the telemetry extra is not installed "
                    "(pip install 'stateway[telemetry]'); executions are not traced")
        return None
    from stateway.telemetry._tracing import Tracing, otlp_exporter

    exporter = otlp_exporter(config.otlp_endpoint, config.service_name)
    tracing = Tracing(runtime.store.get_secret(), exporter, store=runtime.store, service_name=config.service_name,
                      sample_ratio=config.sample_ratio)
    install(runtime, tracing)
    return tracing


def install(runtime: Any, tracing: Any) -> None:
    """Listen to ``runtime``'s commits with ``tracing`` (a Tracing); it becomes the active one
    unless another runtime of this process is traced already (the first one keeps the ids)."""
    runtime.listeners.append(tracing)
    if _active is None:
        activate(tracing)


def detach(runtime: Any, tracing: Any) -> None:
    if tracing is None:
        return
    if tracing in runtime.listeners:
        runtime.listeners.remove(tracing)
    if _active is tracing:
        activate(None)
    tracing.close()


__all__ = ["activate", "active", "attach", "available", "detach", "install", "log_ids", "scoped",
           "traceparent_for"]
