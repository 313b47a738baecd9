"""`stateway serve` as a user starts it, and the client commands against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx

from tests.conformance.harness import free_port

FLOW = """Type: StateMachine
SpecVersion: v1
Name: hello
StartAt: Greet
States:
  - Type: Pass
    Name: Greet
    OutputConstructor:
      greeting.$: format("hello {}", $Input.who)
    End: true
"""


def stateway(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "stateway.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def start_server(tmp_path, *extra, env=None):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "stateway.cli", "serve", "--port", str(port), "--data-dir",
                             str(tmp_path / "data"), *extra], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/")
            return proc, f"127.0.0.1:{port}"
        except httpx.HTTPError:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)


def test_refuses_a_public_address_without_keys(tmp_path):
    out = stateway("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--data-dir", str(tmp_path))
    assert out.returncode == 2 and "without access keys" in out.stderr


def test_dev_pair_on_loopback_and_client_commands(tmp_path):
    proc, endpoint = start_server(tmp_path)
    try:
        flow = tmp_path / "hello.yaml"
        flow.write_text(FLOW)
        assert stateway("flow", "create", str(flow), "--endpoint", endpoint).returncode == 0
        listed = stateway("flow", "list", "--endpoint", endpoint).stdout.splitlines()
        assert listed[0].split() == ["NAME", "MODE", "MODIFIED", "DESCRIPTION"] and listed[1].split()[:2] == [
            "hello", "Standard"]
        started = stateway("exec", "start", "hello", "--input", '{"who": "you"}', "--name", "e1", "--wait",
                           "--json", "--endpoint", endpoint)
        assert started.returncode == 0 and json.loads(json.loads(started.stdout)["Output"]) == {"greeting": "hello you"}
        assert "FlowDefinition" not in json.loads(started.stdout)
        assert stateway("exec", "list", "hello", "--endpoint", endpoint).stdout.splitlines()[1].split()[:2] == [
            "e1", "Succeeded"]
        history = stateway("exec", "history", "hello", "e1", "--follow", "--endpoint", endpoint).stdout
        assert "ExecutionSucceeded" in history and "StepEntered" in history
        bad = tmp_path / "bad.yaml"
        bad.write_text(FLOW.replace("End: true", "Nxt: x"))
        refused = stateway("flow", "update", "hello", str(bad), "--endpoint", endpoint)
        assert refused.returncode == 1 and "InvalidArgument" in refused.stderr and "Nxt" in refused.stderr
        assert stateway("flow", "delete", "hello", "--endpoint", endpoint).returncode == 0
        assert "FlowNotExists" in stateway("flow", "describe", "hello", "--endpoint", endpoint).stderr
    finally:
        proc.terminate()
        assert "development pair test/test" in proc.communicate(timeout=10)[1]


def test_configured_keys_replace_the_dev_pair(tmp_path):
    config = tmp_path / "stateway.toml"
    config.write_text('[[access_keys]]\nid = "ops"\nsecret = "s3cret"\n')
    proc, endpoint = start_server(tmp_path, "--config", str(config))
    try:
        refused = stateway("flow", "list", "--endpoint", endpoint)
        assert refused.returncode == 1 and "InvalidAccessKeyID" in refused.stderr
        keys = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ops", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s3cret"}
        assert stateway("flow", "list", "--endpoint", endpoint, env=keys).returncode == 0
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
