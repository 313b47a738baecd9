"""A tiny HTTP server for integration tests: ``/drip`` answers one body byte a second (a slow or
hostile server), any other path answers ``ok`` at once. It records each request's Host header."""

from __future__ import annotations

import socket
import threading
import time


class DripServer:
    def __init__(self, host: str = "127.0.0.1", *, body_bytes: int = 600, every: float = 1.0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.host = host
        self.body_bytes = body_bytes
        self.every = every
        self.hosts: list[str] = []  # the Host header of every request, in arrival order
        self.dripping = 0  # connections being dripped to now
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            conn.settimeout(10)
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
            except OSError:
                return
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1] if len(head[0].split(" ")) > 1 else "/"
            host = next((line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("host:")), "")
            with self._lock:
                self.hosts.append(host)
            try:
                if not path.startswith("/drip"):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    return
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {self.body_bytes}\r\n"
                             "Connection: close\r\n\r\n".encode())
                with self._lock:
                    self.dripping += 1
                try:
                    for _ in range(self.body_bytes):
                        if self._stop.wait(self.every):
                            return
                        conn.sendall(b"x")
                finally:
                    with self._lock:
                        self.dripping -= 1
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass


def wait_until(predicate, timeout: float = 30.0, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()
