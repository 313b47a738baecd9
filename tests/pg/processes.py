"""Stateway processes for multi-process tests: workers and API-only nodes on one PostgreSQL store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conformance.harness import free_port


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("STATEWAY_STORE", None)
    return env


class Node:
    def __init__(self, args: list[str], log: Path, ops_port: int) -> None:
        self.log = log
        self.ops_port = ops_port
        self.handle = open(log, "wb")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen([sys.executable, "-m", "stateway.cli", *args], stdout=self.handle,
                                     stderr=subprocess.STDOUT, env=_env())

    def wait_ready(self, timeout: float = 30) -> Node:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.ops_port}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready in {timeout}s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.handle.close()


def worker(store: str, functions: Path, log: Path, config: Path | None = None, endpoint: str = "") -> Node:
    port = free_port()
    args = ["worker", "--store", store, "--functions", str(functions), "--metrics-port", str(port)]
    if config:
        args += ["--config", str(config)]
    if endpoint:
        args += ["--endpoint", endpoint]
    return Node(args, log, port)


def api_node(store: str, log: Path, config: Path | None = None) -> Node:
    port = free_port()
    args = ["serve", "--store", store, "--api-only", "--port", str(port)]
    if config:
        args += ["--config", str(config)]
    node = Node(args, log, port)
    node.endpoint = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    return node
