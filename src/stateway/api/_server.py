"""uvicorn in a background thread, for ``stateway run`` and for tests."""

from __future__ import annotations

import socket
import threading
import time
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette


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
    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        if port == 0:
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = probe.getsockname()[1]
        self.host = host
        self.port = port
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                timeout_keep_alive=600)  # the MNS SDK breaks on idle closes (mns.md §7)
        self.server = ClosingServer(config)
        self.thread = threading.Thread(target=self.server.run, name="stateway-http", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

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
