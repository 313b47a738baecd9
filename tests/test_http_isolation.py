"""HTTP:Request stays inside ``[http]``: every spelling of a loopback address is refused, a name is
resolved once and the connection goes to the address that was checked, internal addresses are
refused by default on a server reachable from other hosts, and ``timeout`` bounds the whole
request (issue 20 §1)."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import time

import pytest

from stateway.integrations._http_guard import HostRules, equivalents, normal
from stateway.settings import Settings
from tests.drip_server import DripServer

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: HTTP:Request
    TaskMode: RequestComplete
    Timeout: 120
    Parameters:
      url.$: $Input.url
      timeout.$: $Input.timeout
    End: true
"""

# every way the issue (and a few more) found to write "this host" in a URL
LOOPBACK_FORMS = ["127.0.0.1", "localhost", "0.0.0.0", "0", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::]",
                  "[::1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "127.1", "2130706433", "0x7f000001", "LocalHost"]


@pytest.fixture
def server():
    server = DripServer("127.0.0.1", body_bytes=600)
    yield server
    server.stop()


def call(runtime, url: str, timeout: float = 10) -> object:
    runtime.register_flow("get", FLOW)
    return runtime.wait(runtime.start_execution("get", {"url": url, "timeout": timeout}).id, 60)


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_spelling_of_loopback_is_denied(memory_runtime, server, host):
    runtime = memory_runtime(http={"deny": ["127.0.0.0/8", "::1"]})
    row = call(runtime, f"http://{host}:{server.port}/")
    assert (row.status, row.error) == ("Failed", "HTTP.HostNotAllowed"), row
    assert server.hosts == []  # nothing reached the server


@pytest.mark.parametrize("host", LOOPBACK_FORMS + ["169.254.169.254", "[fe80::1]", "10.1.2.3", "192.168.0.1",
                                                   "172.16.5.4", "100.100.100.200", "[fd00::1]",
                                                   "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]"])
def test_internal_addresses_are_denied_when_internal_is_deny(memory_runtime, server, host):
    runtime = memory_runtime(http={"internal": "deny"})
    row = call(runtime, f"http://{host}:{server.port}/")
    assert (row.status, row.error) == ("Failed", "HTTP.HostNotAllowed"), row
    assert "internal" in row.cause and server.hosts == []


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "0", "localhost", "2130706433"])
def test_the_same_forms_reach_the_server_without_rules(memory_runtime, server, host):
    # the refusals above are the rules' doing: these forms do reach a server on 127.0.0.1
    row = call(memory_runtime(), f"http://{host}:{server.port}/")
    assert row.status == "Succeeded", row
    assert row.output["Body"] == "ok" and server.hosts == [f"{host}:{server.port}"]


def test_an_allow_network_lifts_the_internal_deny(memory_runtime, server):
    runtime = memory_runtime(http={"internal": "deny", "allow": ["127.0.0.0/8"]})
    assert call(runtime, f"http://127.0.0.1:{server.port}/").status == "Succeeded"
    runtime = memory_runtime(http={"internal": "deny", "allow": ["127.0.0.0/8"], "deny": ["127.0.0.1"]})
    assert call(runtime, f"http://127.0.0.1:{server.port}/").error == "HTTP.HostNotAllowed"


def test_internal_auto_denies_on_a_server_reachable_from_other_hosts():
    settings = Settings.from_config({})
    assert settings.http.internal == "auto"
    assert settings.listening_on("0.0.0.0").http.internal == "deny"
    assert settings.listening_on("::").http.internal == "deny"
    assert settings.listening_on("192.168.1.5").http.internal == "deny"
    assert settings.listening_on(None).http.internal == "deny"  # a worker
    assert settings.listening_on("127.0.0.1").http.internal == "allow"
    assert settings.listening_on("localhost").http.internal == "allow"
    assert settings.listening_on("::1").http.internal == "allow"
    lifted = Settings.from_config({"http": {"internal": "allow"}})
    assert lifted.listening_on("0.0.0.0").http.internal == "allow"
    assert HostRules.of(settings.listening_on("0.0.0.0").http).internal
    assert not HostRules.of(settings.http).internal  # undecided (stateway run, the Python API): allowed


def test_address_normalisation():
    ip = ipaddress.ip_address
    assert normal(ip("::ffff:127.0.0.1")) == ip("127.0.0.1")
    assert normal(ip("::ffff:7f00:1")) == ip("127.0.0.1")
    assert normal(ip("::127.0.0.1")) == ip("127.0.0.1")
    assert normal(ip("64:ff9b::a9fe:a9fe")) == ip("169.254.169.254")
    assert normal(ip("::1")) == ip("::1") and normal(ip("2001:db8::1")) == ip("2001:db8::1")
    assert ip("127.0.0.1") in equivalents(ip("0.0.0.0")) and ip("::1") in equivalents(ip("::"))
    assert ip("127.0.0.1") in equivalents(ip("::ffff:0.0.0.0"))
    public = HostRules.parse({"internal": "deny"})
    assert public.refusal("example.com", [ip("93.184.216.34")]) is None
    assert public.refusal("example.com", [ip("93.184.216.34"), ip("::ffff:10.0.0.1")]) is not None


@pytest.fixture
def rebinding(monkeypatch):
    """A resolver for *.rebind.test that answers differently each time it is asked."""
    real = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".rebind.test"):
            asked.append(host)
            address = answers[host].pop(0)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, asked


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected(memory_runtime, server, rebinding):
    answers, asked = rebinding
    # first answer allowed, a second one would be denied: the request goes to the first, and keeps its name
    answers["ok.rebind.test"] = ["127.0.0.1", "127.0.0.2", "127.0.0.2"]
    runtime = memory_runtime(http={"deny": ["127.0.0.2"]})
    row = call(runtime, f"http://ok.rebind.test:{server.port}/")
    assert row.status == "Succeeded", row
    assert asked == ["ok.rebind.test"] and server.hosts == [f"ok.rebind.test:{server.port}"]
    # first answer denied, a second one allowed: refused, and nothing connects
    answers["bad.rebind.test"] = ["127.0.0.2", "127.0.0.1", "127.0.0.1"]
    row = call(runtime, f"http://bad.rebind.test:{server.port}/")
    assert (row.status, row.error) == ("Failed", "HTTP.HostNotAllowed"), row
    assert asked == ["ok.rebind.test", "bad.rebind.test"] and len(server.hosts) == 1


def test_timeout_is_a_deadline_for_the_whole_request(memory_runtime, server):
    runtime = memory_runtime()
    began = time.monotonic()
    row = call(runtime, f"http://{server.endpoint}/drip", timeout=2)
    took = time.monotonic() - began
    assert (row.status, row.error) == ("Failed", "HTTP.Timeout"), row
    # one byte a second would hold it 600 s; each read alone is well within 2 s
    assert took < 40, took
    assert "within 2s" in row.cause


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_a_pinned_https_request_keeps_its_name_for_sni_and_the_certificate(tmp_path, rebinding):
    import asyncio
    import concurrent.futures
    import ssl
    import subprocess
    import threading

    import httpx

    from stateway.integrations._http_guard import PinnedBackend, resolve
    from stateway.integrations.http import _transport

    name = "secure.rebind.test"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
                   check=True, capture_output=True)
    seen: dict[str, str] = {}
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server_ctx.sni_callback = lambda sock, server_name, ctx: seen.__setitem__("sni", server_name)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            request = b""
            while b"\r\n\r\n" not in request:
                request += tls.recv(4096)
            seen["host"] = next(line.split(":", 1)[1].strip() for line in request.decode().split("\r\n")
                                if line.lower().startswith("host:"))
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    answers, asked = rebinding
    answers[name] = ["127.0.0.1", "127.0.0.2"]

    async def get() -> httpx.Response:
        targets = await resolve(name, port)
        transport = _transport(PinnedBackend(name, targets), verify=ssl.create_default_context(cafile=str(cert)))
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get(f"https://{name}:{port}/")

    try:  # a loop of its own, on a thread of its own: whatever loop an earlier test left behind
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            response = pool.submit(asyncio.run, get()).result()
    finally:
        listener.close()
    thread.join(10)
    assert response.status_code == 200 and response.text == "ok"
    assert seen == {"sni": name, "host": f"{name}:{port}"} and asked == [name]


@pytest.mark.parametrize(("host", "internal"), [("0.0.0.0", "deny"), ("127.0.0.1", "allow")])
def test_serve_decides_internal_by_its_listen_address(tmp_path, monkeypatch, host, internal):
    from click.testing import CliRunner

    from stateway.cli import _serve
    from tests.conformance.harness import free_port

    seen = []

    class Built(Exception):
        pass

    def build_node(settings, **kwargs):
        seen.append(settings.http.internal)
        raise Built

    monkeypatch.setattr(_serve, "build_node", build_node)
    result = CliRunner().invoke(_serve.serve_command, ["--host", host, "--port", str(free_port()), "--data-dir",
                                                       str(tmp_path)], env={"STATEWAY_ACCESS_KEYS": "k:s"})
    assert isinstance(result.exception, Built), result.output
    assert seen == [internal]


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://[::1/"])
def test_a_url_that_cannot_be_sent_is_invalid_argument(memory_runtime, url):
    row = call(memory_runtime(), url)
    assert (row.status, row.error) == ("Failed", "FnF.InvalidArgument"), row
