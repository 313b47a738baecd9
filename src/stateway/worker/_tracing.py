"""A handler's span continues its task's trace: the task attempt's W3C ``traceparent``, carried by
the message (MNS:SendMessage adds it as the user property ``traceparent``), becomes the parent of a
``task <source>`` span around the handler. Spans go wherever the Worker's ``tracer_provider`` (by
default the application's global OpenTelemetry one) sends them; without the OpenTelemetry API installed, or without a traceparent,
nothing is done (and nothing of OpenTelemetry is imported)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def task_span(traceparent: str | None, source: str, attempt: int, provider: Any = None) -> Iterator[Any]:
    if not traceparent:
        yield None
        return
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        yield None
        return
    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    tracer = trace.get_tracer("stateway.worker", tracer_provider=provider)
    with tracer.start_as_current_span(f"task {source}", context=parent, kind=trace.SpanKind.CONSUMER,
                                      attributes={"stateway.worker.source": source,
                                                  "stateway.worker.attempt": attempt}) as span:
        yield span
