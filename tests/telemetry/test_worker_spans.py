"""A stateway.worker handler's span continues the trace of the task attempt it answers."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk.trace", reason="the telemetry extra is not installed")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from tests.telemetry.test_spans import finished, traced  # noqa: E402
from tests.worker.helpers import Running, create_flow, flow_text, make_worker, wait_for  # noqa: E402


def test_the_handler_span_is_a_child_of_the_task_attempt(server):
    runtime = server.runtime
    tracing, engine_spans = traced(runtime)
    name = create_flow(server, flow_text("traced", "traced-q"))
    handler_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(handler_spans))
    worker = make_worker(server, tracer_provider=provider)
    seen = {}

    @worker.task("mns://traced-q")
    def handle(task):
        seen["traceparent"] = task.traceparent
        seen["current"] = trace.get_current_span().get_span_context()
        return {"ok": True}

    with Running(worker):
        row = runtime.start_execution(name, {"n": 1}, "t1")
        assert runtime.wait(row.id, 60).status == "Succeeded"
    spans = wait_for(lambda: handler_spans.get_finished_spans(), what="the handler's span")
    (span,) = spans
    assert span.name == "task mns://traced-q" and span.kind == trace.SpanKind.CONSUMER
    assert seen["current"].span_id == span.context.span_id  # the handler runs inside it
    attempt = [s for s in finished(tracing, engine_spans, 1) if s.context.span_id == span.parent.span_id]
    assert span.context.trace_id == tracing.ids.trace_id(row.id)
    assert len(attempt) == 1 and attempt[0].name == "task MNS:SendMessage"  # the Task's attempt span
    assert seen["traceparent"] == f"00-{span.context.trace_id:032x}-{span.parent.span_id:016x}-01"

def test_without_a_traceparent_the_handler_runs_without_a_span(server):
    name = create_flow(server, flow_text("untraced", "untraced-q"))
    handler_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(handler_spans))
    worker = make_worker(server, tracer_provider=provider)

    @worker.task("mns://untraced-q")
    def handle(task):
        assert task.traceparent is None
        return {}

    with Running(worker):
        row = server.runtime.start_execution(name, {"n": 1}, "u1")
        assert server.runtime.wait(row.id, 60).status == "Succeeded"
    assert handler_spans.get_finished_spans() == ()
