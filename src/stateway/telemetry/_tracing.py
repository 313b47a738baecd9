"""The tracer: a runtime listener that hands committed history to a thread that makes spans.

The listener only puts the batch on a bounded queue (dropped when full), so a slow or absent
collector never costs an execution anything: spans are made off the commit path, and a second
thread exports them from a bounded queue of requests (dropped when full), so an export that waits
on a collector's timeout holds up neither the engine nor the making of spans.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from typing import Any

from stateway.telemetry._ids import TASK, TraceIds
from stateway.telemetry._spans import TASK_ENDS, ExecutionTrace, SpanRecord

log = logging.getLogger("stateway.telemetry")

QUEUE_BATCHES = 10_000  # committed batches waiting to become spans; more are dropped (and counted)
DRAIN = 256  # committed batches the span thread takes at once
PAUSE = 0.05  # seconds the span thread rests between takes that found little to do
EXPORT_BATCHES = 64  # export requests waiting to be sent; more are dropped (a collector that is down)
OPEN_EXECUTIONS = 20_000  # executions whose open spans are kept; the oldest is rebuilt from the store if needed


class Tracing:
    """Turns committed history into spans and exports them.

    ``exporter`` is any OpenTelemetry SpanExporter (an in-memory one in tests), or one with
    ``export_records`` that takes span records as they are (``_otlp.RecordExporter``); ``store``
    reads an execution's row and history outline (for the root span's names and links, and to
    rebuild spans whose start another worker committed)."""

    def __init__(self, secret: bytes, exporter: Any, *, store: Any, service_name: str = "stateway",
                 sample_ratio: float = 1.0) -> None:
        from opentelemetry.sdk.resources import Resource

        self.ids = TraceIds(secret, sample_ratio)
        self.store = store
        self.exporter = exporter
        if hasattr(exporter, "export_records"):
            exporter.readable = self.readable  # its fallback to the SDK's path
        self.service_name = service_name
        self.resource = Resource.create({"service.name": service_name})
        self._batches: queue.Queue[tuple[int, list[dict[str, Any]]] | None] = queue.Queue(QUEUE_BATCHES)
        # finished spans waiting for the export thread; bounded, dropped when full (a collector that is down)
        self._outgoing: queue.Queue[list[SpanRecord] | None] = queue.Queue(EXPORT_BATCHES)
        self._pending: list[SpanRecord] = []
        self._traces: OrderedDict[int, ExecutionTrace] = OrderedDict()
        self.dropped = 0  # committed batches not traced (the span queue was full)
        self.dropped_spans = 0  # spans not exported (the export queue was full, or the export failed)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="stateway-telemetry", daemon=True)
        self._thread.start()
        self._exporting = threading.Thread(target=self._export_loop, name="stateway-telemetry-export", daemon=True)
        self._exporting.start()

    # -- the listener (runtime thread): as little as possible ----------------------------------
    def __call__(self, execution_id: int, history: list[dict[str, Any]]) -> None:
        if not history or not (self.ids.sample_all or self.ids.sampled(self.ids.trace_id(execution_id))):
            return
        try:
            self._batches.put_nowait((execution_id, history))
        except queue.Full:
            self.dropped += 1

    def traceparent(self, execution_id: int, task_id: str | None = None) -> str:
        return self.ids.traceparent(execution_id, task_id)

    # -- the span thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            items = [self._batches.get()]
            while len(items) < DRAIN and not self._batches.empty():  # what else is there: one row read for all
                items.append(self._batches.get_nowait())
            roots: dict[int, SpanRecord] = {}
            try:
                for item in items:
                    if item is None:
                        break
                    try:
                        root = self._take(*item)
                    except Exception:  # tracing must never take anything else down
                        log.exception("spans of execution %s were not made", item[0])
                        continue
                    if root is not None:
                        roots[item[0]] = root
                    time.sleep(0)  # hand the GIL back: the engine's thread goes first
                if roots:
                    self._describe_roots(roots)
                    self._pending.extend(roots.values())
                self._hand_over()
            except Exception:
                log.exception("spans were not handed over")
            finally:
                for _ in items:
                    self._batches.task_done()
            if None in items:
                return
            if len(items) < DRAIN:
                # wait for more: spans made in a few bursts contend for the GIL far less often than
                # spans made a batch at a time, which stalls the engine's thread at every commit
                time.sleep(PAUSE)

    def _hand_over(self) -> None:
        if not self._pending:
            return
        spans, self._pending = self._pending, []
        try:
            self._outgoing.put_nowait(spans)
        except queue.Full:
            self.dropped_spans += len(spans)

    def _export_loop(self) -> None:
        while True:
            spans = self._outgoing.get()
            try:
                if spans is None:
                    return
                if not self._export(spans):
                    self.dropped_spans += len(spans)
            except Exception:
                self.dropped_spans += len(spans or [])
                log.debug("spans not exported", exc_info=True)
            finally:
                self._outgoing.task_done()

    def _export(self, spans: list[SpanRecord]) -> bool:
        export_records = getattr(self.exporter, "export_records", None)
        if export_records is not None:
            return bool(export_records(spans))
        return self.exporter.export([self.readable(s) for s in spans]).name == "SUCCESS"

    def _take(self, execution_id: int, history: list[dict[str, Any]]) -> SpanRecord | None:
        """Spans of one committed batch into ``_pending``; the root span when the execution ended."""
        trace = self._traces.get(execution_id)
        first = history[0]["EventId"]
        if trace is None or trace.last_event + 1 != first:
            if trace is None:
                trace = ExecutionTrace(self.ids, execution_id)
                self._traces[execution_id] = trace
                if len(self._traces) > OPEN_EXECUTIONS:
                    self._traces.popitem(last=False)
            if first > trace.last_event + 1:  # its start was committed elsewhere: rebuild what is open
                outline = [r for r in self.store.history_outline(execution_id, trace.last_event) if r[0] < first]
                ended = {int(r[4] or 0) for r in outline if r[1] in TASK_ENDS}  # only open tasks' details are read
                scheduled = [int(r[0]) for r in outline
                             if r[1] in ("TaskScheduled", "MapRunStarted") and int(r[0]) not in ended]
                details = {int(e["EventId"]): e["EventDetail"] or {}
                           for e in (self.store.history_events(execution_id, scheduled) if scheduled else [])}
                trace.replay_outline(outline, first, details)
        self._traces.move_to_end(execution_id)
        spans: list[SpanRecord] = []
        root: SpanRecord | None = None
        for event in history:
            if event["EventId"] <= trace.last_event:
                continue  # seen already (a replay overlapped)
            ended = trace.apply(event["EventId"], event["Type"], event["StepName"] or "", event["Time"],
                                event["ScheduleEventId"] or 0, event["EventDetail"] or {}, spans)
            root = ended or root
        if root is not None:
            self._traces.pop(execution_id, None)
        self._pending.extend(spans)
        return root

    def _describe_roots(self, roots: dict[int, SpanRecord]) -> None:
        try:
            rows = self.store.get_executions(list(roots))
        except Exception:
            log.debug("executions not read for their root spans", exc_info=True)
            return
        for execution_id, root in roots.items():
            row = rows.get(execution_id)
            if row is None:
                continue
            root.name = f"execution {row.flow_name}"
            root.attributes.update({"stateway.flow": row.flow_name, "stateway.execution": row.name,
                                    "stateway.execution_id": execution_id})
            if row.started:
                root.start = min(root.start, row.started)
            if row.parent_id is not None and row.parent_task:
                # a child execution or a distributed Map item: its own trace, linked to the task that started it
                root.links.append((self.ids.trace_id(row.parent_id),
                                   self.ids.span_id(row.parent_id, TASK, row.parent_task)))
                root.attributes["stateway.parent_execution_id"] = row.parent_id

    def readable(self, span: SpanRecord) -> Any:
        """The SDK's ReadableSpan of a record (for any SpanExporter)."""
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

        flags = TraceFlags(TraceFlags.SAMPLED)
        context = SpanContext(span.trace_id, span.span_id, is_remote=False, trace_flags=flags)
        parent = (SpanContext(span.trace_id, span.parent_id, is_remote=False, trace_flags=flags)
                  if span.parent_id is not None else None)
        links = [Link(SpanContext(t, s, is_remote=True, trace_flags=flags)) for t, s in span.links]
        status = Status(StatusCode.ERROR, span.error) if span.error else Status(StatusCode.OK)
        return ReadableSpan(name=span.name, context=context, parent=parent, resource=self.resource,
                            attributes=span.attributes, links=links, kind=SpanKind.INTERNAL, status=status,
                            start_time=int(span.start * 1e9), end_time=int(max(span.end, span.start) * 1e9),
                            instrumentation_scope=_SCOPE())

    # -- lifecycle -------------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Every batch handed over so far made into spans and exported (tests, shutdown)."""
        done = threading.Event()

        def wait() -> None:
            self._batches.join()
            self._outgoing.join()
            done.set()
        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Export what is queued within ``timeout``, then stop; a collector that is down delays
        nothing beyond that (its spans are dropped)."""
        if self._closed:
            return
        self._closed = True
        self.flush(timeout)
        for q in (self._batches, self._outgoing):
            try:
                q.put_nowait(None)
            except queue.Full:
                pass
        # the exporter's shutdown may wait on an export in a retry: not here
        threading.Thread(target=self.exporter.shutdown, daemon=True).start()


_scope: Any = None


def _SCOPE() -> Any:  # noqa: N802  (one InstrumentationScope, made on first use)
    global _scope
    if _scope is None:
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        _scope = InstrumentationScope("stateway")
    return _scope


def otlp_exporter(endpoint: str, service_name: str, timeout: float = 5.0) -> Any:
    from stateway.telemetry._otlp import RecordExporter

    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    return RecordExporter(endpoint=url, timeout=timeout, service_name=service_name)

