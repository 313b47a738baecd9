"""Isolation between integrations (issue 20 §1): the latency of one-step function executions with
nothing else running, then while 100 HTTP:Request tasks are held by a server that answers one
byte a second. Each integration dispatches on its own bounded pool, so the slow requests must not
delay the function calls: the target is a p50 within 2x of quiet (``slowhttp.p50_ratio``)."""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from typing import Any

from tests.shared_flows import FUNCTION_CALL, QUICK_HANDLER, SLOW_HTTP

from stateway.runtime import Runtime
from stateway.settings import Settings
from stateway.store import SQLiteStore


class _DripServer:
    """Answers every request with a long body, one byte a second, on its own event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.dripping = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=512))
        self.port = self.server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3600\r\nConnection: close\r\n\r\n")
            self.dripping += 1
            try:
                for _ in range(3600):
                    await writer.drain()
                    await asyncio.sleep(1)
                    writer.write(b"x")
            finally:
                self.dripping -= 1
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        def close() -> None:
            self.server.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_later(0.1, self.loop.stop)

        self.loop.call_soon_threadsafe(close)
        self._thread.join(5)


def _latencies(runtime: Runtime, count: int) -> list[float]:
    out = []
    for _ in range(count):
        began = time.perf_counter()
        row = runtime.wait(runtime.start_execution("call", {}).id, 120)
        assert row.status == "Succeeded", row
        out.append((time.perf_counter() - began) * 1000)
    return out


def slow_http(samples: int, slow: int = 100) -> dict[str, Any]:
    server = _DripServer()
    with tempfile.TemporaryDirectory() as tmp:
        functions = os.path.join(tmp, "functions")
        os.mkdir(functions)
        with open(os.path.join(functions, "quick.py"), "w") as f:
            f.write(QUICK_HANDLER)
        runtime = Runtime(SQLiteStore(os.path.join(tmp, "bench.db")),
                          settings=Settings.from_config({}, functions_dir=functions)).start()
        try:
            runtime.register_flow("call", FUNCTION_CALL)
            runtime.register_flow("slow", SLOW_HTTP)
            _latencies(runtime, 5)  # warm-up
            quiet = _latencies(runtime, samples)
            held = [runtime.start_execution("slow", {"url": f"http://127.0.0.1:{server.port}/drip"}).id
                    for _ in range(slow)]
            deadline = time.monotonic() + 60
            busy = min(slow, runtime.settings.dispatch_threads)
            while server.dripping < busy and time.monotonic() < deadline:
                time.sleep(0.01)
            dripping = server.dripping
            loaded = _latencies(runtime, samples)
            for execution_id in held:
                runtime.stop_execution(execution_id)
            stopped = [runtime.wait(e, 60).status for e in held]
            assert stopped == ["Stopped"] * slow, stopped
            runtime.settle(60)  # the aborted requests and the queued ones are through before the store closes
        finally:
            runtime.close()
            runtime.store.close()
            server.stop()
    quiet_p50, loaded_p50 = statistics.median(quiet), statistics.median(loaded)
    return {"samples": samples, "slow_tasks": slow, "slow_tasks_held": dripping, "quiet_p50_ms": quiet_p50,
            "loaded_p50_ms": loaded_p50, "p50_ratio": loaded_p50 / quiet_p50}
