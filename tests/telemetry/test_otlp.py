"""The export over OTLP HTTP, to a receiver the test starts, and a collector that is down."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="the telemetry extra is not installed")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

FLOW = """Type: StateMachine
SpecVersion: v1
Name: small
StartAt: Greet
States:
  - Type: Task
    Name: Greet
    Action: FC:InvokeFunction
    Parameters: {resourceArn: "acs:fc:::functions/greet", invocationType: Sync, body: {}}
    Next: Done
  - Type: Pass
    Name: Done
    End: true
"""
GREET = "def handler(event, context):\n    return {'hello': 'world'}\n"
PASS = """Type: StateMachine
SpecVersion: v1
Name: tiny
StartAt: Only
States:
  - Type: Pass
    Name: Only
    End: true
"""


class Receiver:
    """A tiny OTLP HTTP receiver: POST /v1/traces, protobuf bodies, kept decoded."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                message = ExportTraceServiceRequest()
                message.ParseFromString(body)
                received.append(message)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self):
        for request in self.requests:
            for resource_spans in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        yield service, span

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_export_has_one_root_per_execution_and_spans_for_states_and_tasks(memory_runtime, receiver):
    runtime = memory_runtime({"greet": GREET}, telemetry={"otlp_endpoint": receiver.url, "service_name": "orders"})
    assert runtime.tracing is not None
    runtime.register_flow("small", FLOW)
    rows = [runtime.start_execution("small", {}) for _ in range(3)]
    for row in rows:
        assert runtime.wait(row.id, 20).status == "Succeeded"
    deadline = time.monotonic() + 20  # a wait returns when the end is stored, a moment before the tracer hears
    while sum(1 for _, s in receiver.spans() if not s.parent_span_id) < 3 and time.monotonic() < deadline:
        assert runtime.tracing.flush(20)
        time.sleep(0.02)
    spans = list(receiver.spans())
    assert {service for service, _ in spans} == {"orders"}
    by_trace: dict[bytes, list] = {}
    for _, span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    assert len(by_trace) == 3
    for trace in by_trace.values():
        roots = [s for s in trace if not s.parent_span_id]
        assert [r.name for r in roots] == ["execution small"]
        children = {s.name: s for s in trace if s.parent_span_id == roots[0].span_id}
        assert {"Greet", "Done"} <= set(children)
        task, = [s for s in trace if s.name == "task FC:InvokeFunction"]
        assert task.parent_span_id == children["Greet"].span_id
        assert roots[0].start_time_unix_nano <= task.start_time_unix_nano <= task.end_time_unix_nano \
            <= roots[0].end_time_unix_nano


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connections to it are refused


def test_a_collector_that_is_down_costs_nothing_but_the_spans(memory_runtime):
    runtime = memory_runtime(telemetry={"otlp_endpoint": f"http://127.0.0.1:{refused_port()}"})
    assert runtime.tracing is not None
    runtime.register_flow("tiny", PASS)
    began = time.monotonic()
    for _ in range(20):
        assert runtime.wait(runtime.start_execution("tiny", {}).id, 20).status == "Succeeded"
    # 20 Pass executions take well under a second here; the exporter's retries (seconds) never show
    assert time.monotonic() - began < 20
    began = time.monotonic()
    runtime.close()
    assert time.monotonic() - began < 20  # closing waits a bounded time for the export, then drops it


def test_the_direct_encoding_is_what_opentelemetry_proto_reads():
    from stateway.telemetry._otlp import encode
    from stateway.telemetry._spans import SpanRecord

    records = [SpanRecord("execution café", 2**127 + 5, 2**63 + 7, None, 1_700_000_000.25, 1_700_000_001.5,
                          {"s": "Both/Branch0/Left", "n": -3, "big": 2**40, "yes": True, "ratio": 0.5},
                          "States.Timeout", [(11, 12)]),
               SpanRecord("Left", 2**127 + 5, 9, 2**63 + 7, 1_700_000_000.5, 1_700_000_000.75, {})]
    request = ExportTraceServiceRequest()
    request.ParseFromString(encode(records, "orders"))
    resource_spans, = request.resource_spans
    assert [(a.key, a.value.string_value) for a in resource_spans.resource.attributes] == [("service.name", "orders")]
    scope_spans, = resource_spans.scope_spans
    assert scope_spans.scope.name == "stateway"
    root, left = scope_spans.spans
    assert root.trace_id == (2**127 + 5).to_bytes(16, "big") and root.span_id == (2**63 + 7).to_bytes(8, "big")
    assert root.parent_span_id == b"" and left.parent_span_id == root.span_id
    assert root.name == "execution café" and root.kind == 1
    assert abs(root.start_time_unix_nano - 1_700_000_000_250_000_000) < 1000  # (a float's precision: < 1 µs)
    assert abs(root.end_time_unix_nano - 1_700_000_001_500_000_000) < 1000
    values = {a.key: a.value for a in root.attributes}
    assert (values["s"].string_value, values["n"].int_value, values["big"].int_value, values["yes"].bool_value,
            values["ratio"].double_value) == ("Both/Branch0/Left", -3, 2**40, True, 0.5)
    assert (root.status.code, root.status.message) == (2, "States.Timeout") and left.status.code == 0
    assert [(int.from_bytes(k.trace_id, "big"), int.from_bytes(k.span_id, "big")) for k in root.links] == [(11, 12)]


def test_serve_exports_and_its_json_log_lines_carry_the_trace(tmp_path, receiver):
    import json

    from tests.test_serve_cli import start_server, stateway

    config = tmp_path / "stateway.toml"
    config.write_text(f'[telemetry]\notlp_endpoint = "{receiver.url}"\nservice_name = "served"\n')
    proc, endpoint = start_server(tmp_path, "--log-format", "json", "--config", str(config))
    try:
        flow = tmp_path / "tiny.yaml"
        flow.write_text(PASS)
        assert stateway("flow", "create", str(flow), "--endpoint", endpoint).returncode == 0
        assert stateway("exec", "start", "tiny", "--name", "t1", "--wait", "--endpoint", endpoint).returncode == 0
        deadline = time.monotonic() + 30
        while not any(not s.parent_span_id for _, s in receiver.spans()):
            assert time.monotonic() < deadline, "no root span arrived"
            time.sleep(0.1)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    root, = [s for _, s in receiver.spans() if not s.parent_span_id]
    assert root.name == "execution tiny" and {service for service, _ in receiver.spans()} == {"served"}
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    ended, = [line for line in lines if line["message"] == "execution ended"]
    assert ended["trace_id"] == root.trace_id.hex() and ended["span_id"] == root.span_id.hex()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_mns_sdk_reads_the_traceparent_of_a_flows_message(server):
    from mns.account import Account

    from stateway import telemetry
    from stateway.telemetry._tracing import Tracing
    from tests.api.fixtures import KEY_ID, SECRET
    from tests.telemetry.test_spans import PARENT, wait_for_task

    class Nowhere:
        def export(self, spans):
            from opentelemetry.sdk.trace.export import SpanExportResult
            return SpanExportResult.SUCCESS

        def shutdown(self):
            pass

    runtime = server.runtime
    tracing = Tracing(runtime.store.get_secret(), Nowhere(), store=runtime.store)
    telemetry.install(runtime, tracing)
    runtime.tracing = tracing
    runtime.register_flow("asks", PARENT.replace("StartAt: Both", "StartAt: Ask"))
    token = wait_for_task(runtime, runtime.start_execution("asks", {}).id)
    queue = Account(f"http://{server.endpoint}", KEY_ID, SECRET).get_queue("q")
    queue.set_encoding(False)
    message = queue.receive_message(wait_seconds=5)
    value = message.user_properties["traceparent"]
    assert value.string_value == telemetry.traceparent_for(token)
