"""The span tree of an execution, from committed history, with an in-memory exporter."""

from __future__ import annotations

import json
import logging
import time

import pytest

pytest.importorskip("opentelemetry.sdk.trace", reason="the telemetry extra is not installed")

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402

from stateway import telemetry  # noqa: E402
from stateway.telemetry._tracing import Tracing  # noqa: E402

FLAKY = """import os, pathlib
def handler(event, context):
    marker = pathlib.Path(event["marker"])
    if not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("first attempt fails")
    return {"env": os.environ.get("TRACEPARENT"), "context": context.get("traceparent")}
"""
CHILD = """Type: StateMachine
SpecVersion: v1
Name: child
StartAt: Hello
States:
  - Type: Pass
    Name: Hello
    End: true
"""
PARENT = """Type: StateMachine
SpecVersion: v1
Name: parent
StartAt: Both
States:
  - Type: Parallel
    Name: Both
    Branches:
      - StartAt: Flaky
        States:
          - Type: Task
            Name: Flaky
            Action: FC:InvokeFunction
            Parameters: {resourceArn: "acs:fc:::functions/flaky", invocationType: Sync, body: {marker.$: $Input.marker}}
            Retry:
              - Errors: [FnF.ALL]
                MaxAttempts: 2
                IntervalSeconds: 1
            End: true
      - StartAt: Child
        States:
          - Type: Task
            Name: Child
            Action: FNF:StartExecution
            TaskMode: WaitForSystemCallback
            Parameters: {resourceArn: "acs:fnf:::flow/child", input: {}}
            End: true
    Next: Ask
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Parameters:
      resourceArn: acs:mns:::/queues/q/messages
      message: {token.$: $Context.Current.TaskToken}
    End: true
"""


def traced(runtime, **options):
    exporter = InMemorySpanExporter()
    tracing = Tracing(runtime.store.get_secret(), exporter, store=runtime.store, **options)
    telemetry.install(runtime, tracing)
    runtime.tracing = tracing  # closed with the runtime
    return tracing, exporter


def wait_for_task(runtime, execution_id, step="Ask"):
    deadline = time.monotonic() + 20
    while True:
        tokens = [t["token"] for t in runtime.store.open_tasks(execution_id) if t["step"] == step]
        if tokens:
            return tokens[0]
        assert time.monotonic() < deadline, "the callback task was not opened"
        time.sleep(0.02)


def finished(tracing, exporter, roots):
    """The exported spans once ``roots`` root spans are among them: a runtime's wait returns when the
    end is stored, a moment before the listeners hear of it."""
    deadline = time.monotonic() + 20
    while True:
        assert tracing.flush(10)
        spans = exporter.get_finished_spans()
        if sum(1 for s in spans if s.parent is None) >= roots or time.monotonic() > deadline:
            return spans
        time.sleep(0.02)


def by_trace(spans, trace_id):
    return [s for s in spans if s.context.trace_id == trace_id]


def test_span_tree_of_parallel_retry_child_and_callback(memory_runtime, tmp_path):
    runtime = memory_runtime({"flaky": FLAKY})
    tracing, exporter = traced(runtime)
    runtime.register_flow("child", CHILD)
    runtime.register_flow("parent", PARENT)
    row = runtime.start_execution("parent", {"marker": str(tmp_path / "marker")})
    token = wait_for_task(runtime, row.id)
    time.sleep(0.2)  # the callback wait has a length
    runtime.report_success(token, {"approved": True})
    assert runtime.wait(row.id, 20).status == "Succeeded"
    spans = finished(tracing, exporter, 2)
    trace_id = tracing.ids.trace_id(row.id)
    mine = by_trace(spans, trace_id)
    ids = {s.context.span_id: s for s in mine}

    roots = [s for s in mine if s.parent is None]
    assert [r.name for r in roots] == ["execution parent"]
    root = roots[0]
    assert root.attributes["stateway.execution"] == row.name and root.status.status_code == StatusCode.OK
    for span in mine:  # one connected tree, every span inside its parent's time
        if span.parent is not None:
            parent = ids[span.parent.span_id]
            assert parent.start_time <= span.start_time <= span.end_time <= parent.end_time, span.name

    def named(name):
        return [s for s in mine if s.name == name]

    def parent_of(span):
        return ids[span.parent.span_id]

    both, = named("Both")
    assert parent_of(both) is root
    assert sorted(parent_of(s).name for s in named("Branch0") + named("Branch1")) == ["Both", "Both"]
    flaky, = named("Flaky")
    assert parent_of(flaky).name == "Branch0"
    attempts = sorted((s for s in mine if s.name == "task FC:InvokeFunction"), key=lambda s: s.start_time)
    assert len(attempts) == 2 and all(parent_of(a) is flaky for a in attempts)
    assert attempts[0].status.status_code == StatusCode.ERROR and attempts[1].status.status_code != StatusCode.ERROR
    backoff, = named("retry backoff")
    assert parent_of(backoff) is flaky and backoff.end_time - backoff.start_time >= 0.9e9
    child_state, = named("Child")
    child_task, = named("task FNF:StartExecution")
    assert parent_of(child_state).name == "Branch1" and parent_of(child_task) is child_state
    ask, = named("Ask")
    ask_task, = named("task MNS:SendMessage")
    waits = {parent_of(w).name: w for w in named("wait for callback")}  # both callback tasks wait
    assert sorted(waits) == ["task FNF:StartExecution", "task MNS:SendMessage"]
    wait = waits["task MNS:SendMessage"]
    assert parent_of(ask) is root and parent_of(ask_task) is ask and parent_of(wait) is ask_task
    assert wait.end_time - wait.start_time >= 0.15e9

    # the child execution: a trace of its own, linked to the task that started it
    child_row = next(e for e in runtime.store.list_executions() if e.flow_name == "child")
    child_root, = [s for s in by_trace(spans, tracing.ids.trace_id(child_row.id)) if s.parent is None]
    assert child_root.name == "execution child"
    assert [(link.context.trace_id, link.context.span_id) for link in child_root.links] == [
        (trace_id, child_task.context.span_id)]
    assert any(s.name == "Hello" for s in by_trace(spans, child_root.context.trace_id))

    # the function saw the second attempt's span, in its environment and its context
    output = runtime.store.get_execution(row.id)
    assert output.status == "Succeeded"
    seen = [e for e in runtime.store.history(row.id) if e["Type"] == "TaskSucceeded" and e["StepName"].endswith("Flaky")]
    body = json.loads(seen[0]["EventDetail"]["output"])["Body"]
    expected = f"00-{trace_id:032x}-{attempts[1].context.span_id:016x}-01"
    assert body == {"env": expected, "context": expected}
    assert telemetry.traceparent_for(token) == f"00-{trace_id:032x}-{ask_task.context.span_id:016x}-01"


def test_a_worker_that_did_not_see_the_start_rebuilds_it_from_the_store(memory_runtime, tmp_path):
    """On PostgreSQL another worker may commit an execution's next batch: the same spans come out."""
    runtime = memory_runtime({"flaky": FLAKY})
    runtime.register_flow("child", CHILD)
    runtime.register_flow("parent", PARENT)
    row = runtime.start_execution("parent", {"marker": str(tmp_path / "marker")})
    runtime.report_success(wait_for_task(runtime, row.id), {})
    assert runtime.wait(row.id, 20).status == "Succeeded"
    history = runtime.store.history(row.id, limit=10_000)
    cut = next(i for i, e in enumerate(history) if e["Type"] == "TaskSubmitted" and e["StepName"] == "Ask")

    def spans_of(batches):
        exporter = InMemorySpanExporter()
        workers = [Tracing(runtime.store.get_secret(), exporter, store=runtime.store) for _ in batches]
        for worker, batch in zip(workers, batches, strict=True):
            worker(row.id, batch)
            assert worker.flush(10)
        spans = exporter.get_finished_spans()
        for worker in workers:  # (closing shuts the shared exporter down)
            worker.close()
        return sorted((s.name, s.context.span_id, s.parent.span_id if s.parent else None, s.start_time, s.end_time)
                      for s in spans)

    alone = spans_of([history])
    assert spans_of([history[:cut], history[cut:]]) == alone
    assert len(alone) >= 12


def test_unsampled_executions_make_no_spans(memory_runtime):
    runtime = memory_runtime()
    tracing, exporter = traced(runtime, sample_ratio=0.0)
    runtime.register_flow("child", CHILD)
    row = runtime.start_execution("child", {})
    assert runtime.wait(row.id, 20).status == "Succeeded"
    time.sleep(0.2)  # (the listeners hear of the end a moment after it is stored)
    assert tracing.flush(10)
    assert exporter.get_finished_spans() == ()
    assert telemetry.traceparent_for(row.id).endswith("-00")


def test_json_log_lines_carry_the_trace(memory_runtime):
    from stateway.cli._logging import JsonFormatter

    runtime = memory_runtime()
    tracing, _ = traced(runtime)
    record = logging.LogRecord("stateway.runtime", logging.INFO, __file__, 1, "working", (), None)
    line = json.loads(telemetry.scoped(7, "3", lambda: JsonFormatter().format(record))())
    assert line["trace_id"] == f"{tracing.ids.trace_id(7):032x}"
    assert telemetry.traceparent_for(7, "3") == f"00-{line['trace_id']}-{line['span_id']}-01"
    assert "trace_id" not in json.loads(JsonFormatter().format(record))  # no task: no trace


def test_off_by_default_and_without_the_extra(memory_runtime, monkeypatch, caplog):
    runtime = memory_runtime()
    assert runtime.tracing is None and telemetry.traceparent_for(1, "2") is None
    monkeypatch.setattr(telemetry, "available", lambda: False)
    runtime = memory_runtime(telemetry={"otlp_endpoint": "http://127.0.0.1:9"})
    assert runtime.tracing is None and "telemetry extra is not installed" in caplog.text
    runtime.register_flow("child", CHILD)
    assert runtime.wait(runtime.start_execution("child", {}).id, 20).status == "Succeeded"


def test_http_request_sends_the_attempts_traceparent(memory_runtime):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from stateway.api import BackgroundServer

    seen = []

    async def echo(request: Request) -> JSONResponse:
        seen.append(request.headers.get("traceparent"))
        return JSONResponse({})

    server = BackgroundServer(Starlette(routes=[Route("/echo", echo, methods=["POST"])])).start()
    try:
        runtime = memory_runtime()
        tracing, exporter = traced(runtime)
        runtime.register_flow("call", """Type: StateMachine
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: HTTP:Request
    Parameters: {url.$: $Input.url, method: post, body: {}}
    End: true
""")
        row = runtime.start_execution("call", {"url": f"http://{server.endpoint}/echo"})
        assert runtime.wait(row.id, 20).status == "Succeeded"
        task, = [s for s in finished(tracing, exporter, 1) if s.name == "task HTTP:Request"]
        assert seen == [f"00-{task.context.trace_id:032x}-{task.context.span_id:016x}-01"]
    finally:
        server.stop()


def test_mns_messages_carry_the_attempts_traceparent(memory_runtime):
    from stateway.api._mns import QueueApi
    from stateway.app.queues import Message

    runtime = memory_runtime()
    tracing, exporter = traced(runtime)
    runtime.register_flow("parent", PARENT.replace("StartAt: Both", "StartAt: Ask"))
    row = runtime.start_execution("parent", {})
    token = wait_for_task(runtime, row.id)
    received, = runtime.store.receive_messages("q", time.time() + 1, 10, 30)
    assert received["properties"] == {"traceparent": telemetry.traceparent_for(token)}
    xml = QueueApi._message(Message.of(received), peek=False)
    assert xml.endswith("<UserProperties><PropertyValue><Name>traceparent</Name>"
                        f"<Value>{telemetry.traceparent_for(token)}</Value><Type>STRING</Type></PropertyValue>"
                        "</UserProperties>")


def test_distributed_map_items_link_to_the_map_run(memory_runtime):
    runtime = memory_runtime()
    tracing, exporter = traced(runtime)
    runtime.register_flow("fan", """Type: StateMachine
SpecVersion: v1
Name: fan
StartAt: Each
States:
  - Type: Map
    Name: Each
    ProcessorConfig: {Mode: Distributed}
    ItemsPath: $Input.items
    Processor:
      StartAt: Look
      States:
        - Type: Pass
          Name: Look
          End: true
    End: true
""")
    row = runtime.start_execution("fan", {"items": [{"n": 1}, {"n": 2}, {"n": 3}]})
    assert runtime.wait(row.id, 30).status == "Succeeded"
    spans = finished(tracing, exporter, 4)
    run, = [s for s in by_trace(spans, tracing.ids.trace_id(row.id)) if s.name == "map run"]
    assert run.attributes["stateway.map_run"] and run.parent is not None
    items = [s for s in spans if s.parent is None and s.context.trace_id != run.context.trace_id]
    assert len(items) == 3 and len({s.context.trace_id for s in items}) == 3
    assert all([(k.context.trace_id, k.context.span_id) for k in s.links] == [(run.context.trace_id, run.context.span_id)]
               for s in items)


def test_functions_served_over_http_get_the_traceparent_header():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from stateway.api import BackgroundServer
    from stateway.services.functions import FunctionRuntime

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"traceparent": request.headers.get("traceparent")})

    server = BackgroundServer(Starlette(routes=[Route("/fn", echo, methods=["POST"])])).start()
    try:
        functions = FunctionRuntime(config={"remote": {"url": f"http://{server.endpoint}/fn"}})
        spec = functions.resolve("acs:fc:::functions/remote")
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        assert functions.invoke(spec, {}, "r1", "k1", traceparent=parent) == {"traceparent": parent}
        assert functions.invoke(spec, {}, "r2", "k2") == {"traceparent": None}
    finally:
        server.stop()


def test_an_export_that_hangs_drops_spans_and_blocks_nothing(memory_runtime, monkeypatch):
    import threading

    from stateway.telemetry import _tracing

    monkeypatch.setattr(_tracing, "QUEUE_BATCHES", 4)
    monkeypatch.setattr(_tracing, "EXPORT_BATCHES", 1)
    release = threading.Event()

    class Stuck:
        def export(self, spans):
            release.wait(60)
            from opentelemetry.sdk.trace.export import SpanExportResult
            return SpanExportResult.SUCCESS

        def shutdown(self):
            pass

    runtime = memory_runtime()
    tracing = Tracing(runtime.store.get_secret(), Stuck(), store=runtime.store)
    telemetry.install(runtime, tracing)
    try:
        runtime.register_flow("child", CHILD)
        rows = [runtime.start_execution("child", {}) for _ in range(40)]
        assert all(runtime.wait(row.id, 20).status == "Succeeded" for row in rows)
        deadline = time.monotonic() + 20
        while not (tracing.dropped or tracing.dropped_spans) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tracing.dropped or tracing.dropped_spans
    finally:
        release.set()
        telemetry.detach(runtime, tracing)
