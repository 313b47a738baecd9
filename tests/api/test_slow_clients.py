"""Slow clients cannot hold descriptors: a request's headers have a deadline, one address has a cap
on its connections, and a normal client is served all the while; and the server listens on IPv6."""

from __future__ import annotations

import os
import socket
import threading
import time

import httpx
import pytest

from stateway.api._guard import ConnectionLimits


@pytest.fixture(params=["auto", "h11"])  # httptools' parser (when installed) and the h11 fallback
def serve(tmp_path, request):
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    from stateway.api import BackgroundServer, create_app
    from stateway.runtime import Runtime
    from stateway.store import SQLiteStore

    started = []

    def start(host: str = "127.0.0.1", **limits) -> BackgroundServer:
        runtime = Runtime(SQLiteStore(str(tmp_path / f"s{len(started)}.db"))).start()
        app = create_app(runtime, {"ak": "sk"})
        server = BackgroundServer(app, host, limits=ConnectionLimits(**limits), parser=request.param).start()
        started.append((server, app, runtime))
        return server

    yield start
    for server, app, runtime in started:
        server.stop(force=True)
        app.state.service.close()
        runtime.close()


def closed(sock: socket.socket) -> bool:
    """Whether the server closed this connection (a read gives EOF or a reset)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_trickling_headers_are_cut_off_and_a_normal_client_is_served(serve):
    server = serve(header_timeout=1.0)
    host, port = "127.0.0.1", server.port
    slow: list[socket.socket] = []
    for _ in range(60):
        sock = socket.create_connection((host, port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # a valid start, never finished
        slow.append(sock)
    stop = threading.Event()

    def trickle() -> None:  # one more header byte every 0.3 s on each, as a slowloris does
        while not stop.is_set():
            for sock in slow:
                try:
                    sock.sendall(b"e")
                except OSError:
                    pass
            time.sleep(0.3)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        began = time.monotonic()
        served = httpx.get(f"http://{server.endpoint}/healthz", timeout=10)
        assert served.status_code == 200, "a normal client waited behind the slow ones"
        deadline = began + 20  # 20x the header timeout
        while not all(closed(s) for s in slow):
            assert time.monotonic() < deadline, "trickling connections outlived the header deadline"
            time.sleep(0.1)
        assert server.limits.closed_slow >= 60
        assert httpx.get(f"http://{server.endpoint}/healthz", timeout=10).status_code == 200
    finally:
        stop.set()
        thread.join()
        for sock in slow:
            sock.close()


def test_a_trickling_body_is_cut_off(serve):
    server = serve(header_timeout=5.0, body_timeout=1.0)
    sock = socket.create_connection(("127.0.0.1", server.port))
    try:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 100000\r\n\r\nAction=")
        began = time.monotonic()
        while True:
            try:
                sock.sendall(b"x")
            except OSError:
                break
            if closed(sock):
                break
            assert time.monotonic() - began < 20, "a trickling body outlived its deadline"
            sock.setblocking(True)
            time.sleep(0.2)
        assert httpx.get(f"http://{server.endpoint}/healthz", timeout=10).status_code == 200
    finally:
        sock.close()


def test_one_address_holds_at_most_its_cap_and_newcomers_still_get_in(serve):
    server = serve(header_timeout=60.0, per_client=20)
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
    try:
        # every newcomer beyond the cap closed the oldest that was only sending headers or idle
        deadline = time.monotonic() + 20
        while sum(not closed(s) for s in idle) > 20:
            assert time.monotonic() < deadline, "more connections than the cap stayed open"
            time.sleep(0.1)
        assert httpx.get(f"http://{server.endpoint}/healthz", timeout=10).status_code == 200
        assert len(server.limits.clients.get("127.0.0.1", {})) <= 20
    finally:
        for sock in idle:
            sock.close()


def test_a_keep_alive_connection_survives_between_requests(serve):
    server = serve(header_timeout=0.5)
    with httpx.Client(base_url=f"http://{server.endpoint}", timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(1.5)  # idle is not slow: the header deadline starts at a request's first byte
        assert client.get("/healthz").status_code == 200
    assert server.limits.closed_slow == 0


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_serves_on_ipv6_loopback(serve):
    server = serve("::1")
    assert server.endpoint.startswith("[::1]:")
    response = httpx.get(f"http://{server.endpoint}/healthz", timeout=10)
    assert response.status_code == 200


def test_at_the_cap_with_every_connection_busy_a_newcomer_is_refused(serve):
    server = serve(header_timeout=60.0, body_timeout=60.0, per_client=2)
    busy = []
    try:
        for _ in range(2):  # headers in, body still to come: in the middle of a request
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            busy.append(sock)
        deadline = time.monotonic() + 20
        while len(server.limits.clients.get("127.0.0.1", {})) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        newcomer = socket.create_connection(("127.0.0.1", server.port))
        newcomer.settimeout(20)
        assert newcomer.recv(1) == b"", "a connection beyond the cap was kept"
        newcomer.close()
        assert server.limits.refused == 1 and not any(closed(s) for s in busy)
    finally:
        for sock in busy:
            sock.close()


def test_the_guard_sits_on_the_c_parser_when_it_is_installed():
    from stateway.api import _guard

    limits = ConnectionLimits()
    assert issubclass(_guard.protocol_class(limits, "h11"), _guard.GuardedH11Protocol)
    if _guard.HttpToolsProtocol is not None:
        assert issubclass(_guard.protocol_class(limits), _guard.GuardedHttpToolsProtocol)
        assert _guard.protocol_class(limits).limits is limits
