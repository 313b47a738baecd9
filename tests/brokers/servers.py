"""Real redis-server, nats-server (JetStream) and rabbitmq-server, each on free 127.0.0.1 ports in
a temporary directory. ``start``/``stop`` may be called again (a broker that goes away and comes back
on the same port). Also used by the benchmark suite."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

RABBITMQ_SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # Debian's, without the wrapper that changes user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing(kind: str) -> str | None:
    """Why the server of ``kind`` cannot run here, or None."""
    if kind == "rabbitmq":
        if not (os.path.exists(RABBITMQ_SCRIPT) or shutil.which("rabbitmq-server")):
            return "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
        return None
    binary = {"redis": "redis-server", "nats": "nats-server"}[kind]
    return None if shutil.which(binary) else f"{binary} is not installed (apt-get install {binary})"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Server:
    kind = ""
    startup = 30.0  # seconds a start may take

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        return _port_open(self.port)

    def start(self) -> Server:
        log = open(self.dir / "server.log", "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                                     cwd=self.dir, start_new_session=True)
        deadline = time.monotonic() + self.startup
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}: "
                                   f"{(self.dir / 'server.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.kind} did not start within {self.startup:g}s")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its port but answers nothing — a slow broker."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)


class RedisServer(Server):
    kind = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--save", "", "--appendonly", "no", "--protected-mode", "no"]

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class NatsServer(Server):
    kind = "nats"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.dir / "jetstream"),
                "-n", f"stateway-test-{self.port}"]

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                return s.recv(8).startswith(b"INFO")
        except OSError:
            return False


class RabbitServer(Server):
    kind = "rabbitmq"
    startup = 240.0  # the Erlang node takes from ~10 s (idle machine) to a minute (busy one)

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"stateway{self.port}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def command(self) -> list[str]:
        script = RABBITMQ_SCRIPT if os.path.exists(RABBITMQ_SCRIPT) else shutil.which("rabbitmq-server") or ""
        return [script]

    def env(self) -> dict[str, str]:
        d = self.dir
        (d / "home").mkdir(exist_ok=True)
        (d / "enabled_plugins").write_text("[].\n")
        return {**os.environ, "HOME": str(d / "home"), "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port), "ERL_EPMD_PORT": str(self.epmd_port),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_MNESIA_BASE": str(d / "mnesia"), "RABBITMQ_LOG_BASE": str(d / "log"),
                "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"), "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"), "RABBITMQ_PID_FILE": str(d / "pid"),
                "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
                # one scheduler each: the machine is small and shared
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+S 1:1 +sbwt none"}

    def start(self) -> Server:
        # our own epmd (the node would start a detached one that outlives the test)
        if getattr(self, "epmd", None) is None:
            epmd = shutil.which("epmd") or "epmd"
            self.epmd = subprocess.Popen([epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while not _port_open(self.epmd_port) and time.monotonic() < deadline:
                time.sleep(0.05)
        return super().start()

    def ctl(self, *args: str) -> str:
        """rabbitmqctl against this node."""
        script = os.path.join(os.path.dirname(RABBITMQ_SCRIPT), "rabbitmqctl")
        done = subprocess.run([script if os.path.exists(script) else "rabbitmqctl", "-n", self.node, *args],
                              env=self.env(), capture_output=True, text=True, timeout=120, check=True)
        return done.stdout

    def close(self) -> None:
        self.stop()
        epmd, self.epmd = getattr(self, "epmd", None), None
        if epmd is not None:
            epmd.terminate()
            epmd.wait(timeout=10)


SERVERS = {"redis": RedisServer, "nats": NatsServer, "rabbitmq": RabbitServer}
