"""`stateway serve` on IPv6, and its access keys and policies reloaded on SIGHUP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from stateway.api._signature import sign_rpc_v1
from tests.conformance.harness import free_port


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def start(tmp_path, host: str, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "stateway.cli", "serve", "--host", host, "--port", str(port),
                             "--data-dir", str(tmp_path / "data"), *extra], stderr=subprocess.PIPE, text=True)
    endpoint = f"[::1]:{port}" if ":" in host else f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://{endpoint}/healthz")
            return proc, endpoint
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError(proc.communicate()[1]) from None
            time.sleep(0.1)


def call(endpoint: str, key: str, secret: str, action: str, **params: str) -> httpx.Response:
    return httpx.get(f"http://{endpoint}/", params=sign_rpc_v1("GET", action, params, key, secret), timeout=30)


@pytest.mark.skipif(not has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@pytest.mark.parametrize("host", ["::1", "::"])
def test_serve_listens_on_ipv6(tmp_path, host):
    config = tmp_path / "keys.toml"
    config.write_text('[[access_keys]]\nid = "ops"\nsecret = "s3cret"\n')
    proc, endpoint = start(tmp_path, host, "--config", str(config))
    try:
        response = call(endpoint, "ops", "s3cret", "ListFlows")
        assert response.status_code == 200 and response.json()["Flows"] == []
    finally:
        proc.terminate()
        err = proc.communicate(timeout=20)[1]
    assert f"http://[{host}]:" in err, err


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_reloads_keys_and_policies(tmp_path):
    config = tmp_path / "keys.toml"
    config.write_text('[[access_keys]]\nid = "ops"\nsecret = "s3cret"\n\n'
                      '[[access_keys]]\nid = "viewer"\nsecret = "v"\nrole = "readonly"\n')
    proc, endpoint = start(tmp_path, "127.0.0.1", "--config", str(config))
    try:
        assert call(endpoint, "viewer", "v", "ListFlows").status_code == 200
        refused = call(endpoint, "viewer", "v", "CreateFlow", Name="x", Definition="y")
        assert (refused.status_code, refused.json()["Code"]) == (403, "AccessDenied")
        config.write_text('[[access_keys]]\nid = "ops"\nsecret = "s3cret"\nallow = ["fnf:Describe*"]\n\n'
                          '[[access_keys]]\nid = "newcomer"\nsecret = "n"\n')
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while call(endpoint, "newcomer", "n", "ListFlows").status_code != 200:
            assert time.monotonic() < deadline, "the new key was not loaded"
            time.sleep(0.2)
        gone = call(endpoint, "viewer", "v", "ListFlows")
        assert (gone.status_code, gone.json()["Code"]) == (403, "InvalidAccessKeyID")
        limited = call(endpoint, "ops", "s3cret", "ListFlows")
        assert (limited.status_code, limited.json()["Code"]) == (403, "AccessDenied")
        config.write_text("[[access_keys]]\nid = 'ops'\nsecret = 's3cret'\nalow = ['fnf:*']\n")  # a typo
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert call(endpoint, "newcomer", "n", "ListFlows").status_code == 200, "a bad file changed the keys"
    finally:
        proc.terminate()
        err = proc.communicate(timeout=20)[1]
    assert "SIGHUP: 2 access key(s) loaded" in err and "sessions of viewer ended" in err, err
    assert "access keys not reloaded" in err and "alow" in err, err


def test_sighup_reload_is_not_in_the_way_of_the_environment(tmp_path):
    env_keys = {**os.environ, "STATEWAY_ACCESS_KEYS": "envkey:envsecret"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "stateway.cli", "serve", "--port", str(port), "--data-dir",
                             str(tmp_path / "data")], stderr=subprocess.PIPE, text=True, env=env_keys)
    endpoint = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://{endpoint}/healthz")
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert call(endpoint, "envkey", "envsecret", "ListFlows").status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
