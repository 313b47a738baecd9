"""What tracing costs: the small-execution rate with tracing off and on (sampled at 100%).

The traced runs export over OTLP HTTP to a receiver in this process (it counts what arrives), so
the figure includes making every span and serialising it; runs alternate off/on so that a machine
that speeds up or slows down during the measurement affects both alike.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.scenarios import BENCH_LIMITS, wait_until
from bench.workloads import FIVE_FDL
from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore

SPANS_PER_EXECUTION = 9  # the execution, Prepare, Route, Both, two branches, Left, Right, Finish


class _Receiver:
    def __init__(self) -> None:
        self.spans = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

                message = ExportTraceServiceRequest()
                message.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                owner.spans += sum(len(s.spans) for r in message.resource_spans for s in r.scope_spans)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _eps(count: int, endpoint: str | None) -> tuple[float, float]:
    """(executions/s until all succeeded, executions/s until their spans were exported too)."""
    config: dict[str, Any] = {"limits": BENCH_LIMITS}
    if endpoint:
        config["telemetry"] = {"otlp_endpoint": endpoint, "sample_ratio": 1.0}
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(SQLiteStore(os.path.join(tmp, "bench.db")), settings=Settings.from_config(config)).start()
        try:
            runtime.register_flow("five", FIVE_FDL)
            began = time.perf_counter()
            for i in range(count):
                runtime.start_execution("five", {"n": i})
            wait_until(lambda: runtime.store.count_executions("five", "Succeeded") >= count)
            eps = count / (time.perf_counter() - began)
            if runtime.tracing is not None:
                runtime.tracing.flush(120)
            drained = count / (time.perf_counter() - began)
        finally:
            runtime.close()
            runtime.store.close()
    return eps, drained


def tracing_overhead(count: int, runs: int) -> dict[str, Any]:
    receiver = _Receiver()
    _eps(count // 4, None)  # warm-up, not counted
    off: list[float] = []
    on: list[float] = []
    exported: list[float] = []
    dropped = 0
    for _ in range(runs):
        off.append(_eps(count, None)[0])
        before = receiver.spans
        eps, drained = _eps(count, receiver.url)
        on.append(eps)
        exported.append(drained)
        dropped += max(0, count * SPANS_PER_EXECUTION - (receiver.spans - before))
    receiver.server.shutdown()
    eps_off, eps_on, eps_exported = statistics.median(off), statistics.median(on), statistics.median(exported)
    # the target counts the span work done after the last execution ended too (it is deferred, not free)
    return {"eps_off": eps_off, "eps_on": eps_on, "eps_on_exported": eps_exported,
            "overhead_percent": 100 * (1 - eps_exported / eps_off),
            "overhead_percent_executions_only": 100 * (1 - eps_on / eps_off),
            "spans_dropped": dropped, "spans_expected": count * SPANS_PER_EXECUTION * runs, "runs": runs,
            "executions": count}
