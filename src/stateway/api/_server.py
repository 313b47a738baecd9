"""uvicorn in a background thread, for ``stateway run`` and for tests; and what ``serve`` shares
with it: the guarded protocol (``_guard``), IPv4 and IPv6 addresses."""

from __future__ import annotations

import socket
import threading
import time
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from stateway.api._guard import ConnectionLimits, uvicorn_options


def family(host: str) -> socket.AddressFamily:
    """The address family of a host to listen on: IPv6 for an address with a colon (``::1``, ``::``)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def endpoint_of(host: str, port: int) -> str:
    """``host:port`` as a client writes it: IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(family(host)) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    """Whether ``port`` can be listened on at ``host`` (as uvicorn will: SO_REUSEADDR)."""
    try:
        probe = socket.socket(family(host))
    except OSError:  # no IPv6 on this machine: let the bind below say so
        return True
    with probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class ClosingServer(uvicorn.Server):
    """uvicorn that tells the app first when it starts to stop, so that long polls end at once (the MNS
    API answers them 503 ServiceUnavailable) instead of holding the shutdown or being cut off."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        closing(self.config.app)
        super().handle_exit(sig, frame)


def closing(app: Any) -> None:
    queues = getattr(getattr(app, "state", None), "queues", None)
    if queues is not None:
        queues.shutting_down()


class BackgroundServer:
    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0,
                 limits: ConnectionLimits | None = None, parser: str = "auto") -> None:
        if port == 0:
            port = free_port(host)
        self.host = host
        self.port = port
        self.limits = limits or ConnectionLimits()
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                **uvicorn_options(self.limits, parser))
        self.server = ClosingServer(config)
        self.thread = threading.Thread(target=self.server.run, name="stateway-http", daemon=True)

    @property
    def endpoint(self) -> str:
        return endpoint_of(self.host, self.port)

    def start(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self, force: bool = False) -> None:
        """Stop serving; ``force`` does not wait for requests still being answered."""
        closing(self.server.config.app)
        self.server.should_exit = True
        self.server.force_exit = force
        self.thread.join(timeout=5)
