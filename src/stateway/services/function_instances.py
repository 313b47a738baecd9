"""Warm instances of Python functions, as Function Compute keeps them.

Each function has a pool of long-lived host processes (``function_host``): a process imports
the handler once and serves many calls, ``instance_concurrency`` at a time, over a Unix socket
that carries, per call, four pipes (request, stdout, stderr, result). A new instance (a *cold
start*) is started only when every live one is busy and the pool holds fewer than
``max_instances``; otherwise the call waits (at most ``max_waiting`` calls wait; more are
refused with ``FC.ResourceThrottled``). An instance idle for ``idle_seconds`` is stopped.

What never changes hands: a call that times out, is cancelled or crashes its instance takes that
instance with it (its whole process group is killed); the next call starts a fresh one. A
handler file that changed on disk (size, times or content) retires the instances that imported
the old one: calls in flight finish there, new calls go to fresh instances.

Processes are started by one long-lived thread, without ``preexec_fn`` (``start_new_session``
only), so CPython spawns them with vfork and never forks the engine under its GIL; the host sets
its own parent-death signal, which Linux ties to that thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stateway.services.function_host import FRAME

LOG_LIMIT = 64 * 1024  # bytes of stdout and of stderr kept per invocation (the end)
HASHED_BYTES = 1 << 20  # handler files up to this size are compared by content too, not only by stat
LOG_GRACE = 0.5  # seconds to keep reading a call's output after its result (a child may still hold it)


@dataclass(frozen=True)
class InstanceOptions:
    """One function's instance settings (``[functions]`` defaults, ``[functions.<name>]`` over them)."""

    reuse: bool = True
    concurrency: int = 1
    max_instances: int = 2 * (os.cpu_count() or 1)
    idle_seconds: float = 300.0
    memory_mb: int = 0  # 0: no limit
    initializer: str | None = None
    max_waiting: int = 1000
    environment: tuple[tuple[str, str], ...] = ()


class Capture:
    """Bytes read from one pipe; with a limit, only the last ``limit`` bytes are kept."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if self.limit is not None and len(self.data) > self.limit:
            cut = len(self.data) - self.limit
            del self.data[:cut]
            self.dropped += cut

    def text(self) -> str:
        body = self.data.decode(errors="replace")
        return f"[... {self.dropped} bytes cut ...]\n{body}" if self.dropped else body


@dataclass
class CallResult:
    """How one call ended: ``reply`` (the host's answer), or ``timed_out``, or ``crashed`` (the
    instance ended without an answer: ``exit`` says how)."""

    stdout: str = ""
    stderr: str = ""
    reply: dict[str, Any] | None = None
    timed_out: bool = False
    crashed: bool = False
    cancelled: bool = False
    exit: str = ""
    cold: bool = False
    instance: str = ""


@dataclass(eq=False)
class Instance:
    name: str
    number: int
    proc: subprocess.Popen[bytes]
    sock: socket.socket
    signature: Any
    started: float
    busy: int = 0
    calls: int = 0
    last_used: float = field(default_factory=time.monotonic)
    retired: bool = False
    dead: bool = False

    @property
    def label(self) -> str:
        return f"{self.name}#{self.number}"

    def kill(self) -> None:
        """The instance and every process it started (its own process group)."""
        self.dead = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def reap(self, wait: float = 2.0) -> str:
        """How the process ended (after a kill or a crash), as text."""
        try:
            code = self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with status {code}"


class Throttled(Exception):
    pass


class Pool:
    """The instances of one function (one handler file)."""

    def __init__(self, name: str, file: str, options: InstanceOptions, spawn: Callable[[Pool, Any], Instance]) -> None:
        self.name, self.file, self.options = name, file, options
        self._spawn = spawn
        self._cond = threading.Condition()
        self.instances: list[Instance] = []
        self._starting = 0
        self._waiting = 0
        self._numbers = 0
        self.closed = False

    def next_number(self) -> int:
        with self._cond:
            self._numbers += 1
            return self._numbers

    def acquire(self, signature: Any, cancelled: Callable[[], bool] = lambda: False) -> tuple[Instance, bool] | None:
        """An instance with room for one more call (started now if needed: ``cold``), or None when
        the call was cancelled while it waited. The wait is not part of the call's timeout (as
        in FC, the timeout is the function's running time): it ends when an instance frees up,
        which the running calls' own timeouts bound, or by a cancel (the task's timeout, a Stop)."""
        options = self.options
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    self._retire_stale(signature)
                    if options.reuse:
                        free = [i for i in self.instances if not (i.dead or i.retired) and i.busy < options.concurrency]
                        if free:
                            instance = max(free, key=lambda i: (i.busy, i.last_used))  # keep the others idle
                            instance.busy += 1
                            return instance, False
                    if len(self.instances) + self._starting < options.max_instances:
                        self._starting += 1
                        break
                    if self._waiting > options.max_waiting:
                        raise Throttled(f"function {self.name!r}: {options.max_instances} instance(s) busy and "
                                        f"{options.max_waiting} call(s) already waiting")
                    if cancelled():
                        return None
                    self._cond.wait(0.25)
            finally:
                self._waiting -= 1
        try:
            instance = self._spawn(self, signature)
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            instance.busy = 1
            self.instances.append(instance)
            self._cond.notify_all()  # its other slots (instance_concurrency > 1) are free
        return instance, True

    def _retire_stale(self, signature: Any) -> None:
        for instance in list(self.instances):
            if instance.dead:
                self.instances.remove(instance)
            elif instance.signature != signature and not instance.retired:
                instance.retired = True
            if instance.retired and instance.busy == 0 and not instance.dead:
                self._stop(instance)

    def _stop(self, instance: Instance) -> None:
        instance.kill()
        if instance in self.instances:
            self.instances.remove(instance)
        threading.Thread(target=instance.reap, daemon=True).start()

    def release(self, instance: Instance, *, keep: bool) -> None:
        with self._cond:
            instance.busy -= 1
            instance.calls += 1
            instance.last_used = time.monotonic()
            if not keep or not self.options.reuse or self.closed:
                instance.retired = True
            if instance.dead or (instance.retired and instance.busy == 0):
                self._stop(instance)
            elif self.options.idle_seconds <= 0 and instance.busy == 0:
                self._stop(instance)
            self._cond.notify()

    def reap_idle(self, now: float) -> None:
        with self._cond:
            for instance in list(self.instances):
                if instance.dead:
                    self.instances.remove(instance)
                elif instance.busy == 0 and now - instance.last_used >= self.options.idle_seconds:
                    self._stop(instance)
                elif instance.busy == 0 and instance.proc.poll() is not None:  # died while idle
                    instance.dead = True
                    self.instances.remove(instance)

    def close(self) -> bool:
        """Stop the idle instances now, the busy ones when their call ends (a call in flight is
        not failed by a shutdown: the engine dispatches it again after a restart if its result
        could not be kept). True when none is busy."""
        with self._cond:
            self.closed = True
            for instance in list(self.instances):
                if instance.busy == 0 or instance.dead:
                    self._stop(instance)
            self._cond.notify_all()
            return not self.instances

    def count(self) -> int:
        with self._cond:
            return len([i for i in self.instances if not i.dead])


def file_signature(path: str) -> Any:
    """What says a handler file changed: its stat, and its content when small (a rewrite within
    the file system's time granularity keeps the stat)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    stat = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if st.st_size > HASHED_BYTES:
        return stat
    try:
        with open(path, "rb") as handle:
            return stat, hashlib.blake2b(handle.read(), digest_size=16).digest()
    except OSError:
        return stat


class Instances:
    """Every function's pool, the thread that starts processes, and the one that stops idle ones."""

    def __init__(self, environment: dict[str, str], on_cold_start: Callable[[str], None] | None = None) -> None:
        self.environment = environment
        self.on_cold_start = on_cold_start
        self._pools: dict[tuple[str, str, InstanceOptions], Pool] = {}
        self._lock = threading.Lock()
        self._running: dict[str, tuple[Instance, Pool]] = {}
        self._killed: set[str] = set()
        self._spawner: ThreadPoolExecutor | None = None
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()

    # -- pools --------------------------------------------------------------------------------
    def pool(self, name: str, file: str, options: InstanceOptions) -> Pool:
        key = (name, file, options)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if self._spawner is None:
                    self._spawner = ThreadPoolExecutor(1, thread_name_prefix="stateway-fc-spawn")
                    self._reaper = threading.Thread(target=self._reap, name="stateway-fc-idle", daemon=True)
                    self._reaper.start()
                pool = self._pools[key] = Pool(name, file, options, self._spawn)
                pool.closed = self._closed.is_set()
            return pool

    def _spawn(self, pool: Pool, signature: Any) -> Instance:
        assert self._spawner is not None
        try:
            future = self._spawner.submit(self._start, pool, signature)
        except RuntimeError:  # closed: a call that comes after is served from its own thread, then stopped
            return self._start(pool, signature)
        return future.result()

    def _start(self, pool: Pool, signature: Any) -> Instance:
        options = pool.options
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            config = {"file": pool.file, "initializer": options.initializer, "concurrency": options.concurrency,
                      "memory_mb": options.memory_mb, "once": not options.reuse, "parent": os.getpid()}
            env = {**os.environ, **self.environment, **dict(options.environment),
                   "STATEWAY_FUNCTION_NAME": pool.name, "STATEWAY_HOST_FD": str(theirs.fileno()),
                   "STATEWAY_HOST_CONFIG": json.dumps(config)}
            proc = subprocess.Popen([sys.executable, "-m", "stateway.services.function_host"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=env, pass_fds=(theirs.fileno(),), start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        if self.on_cold_start is not None:
            self.on_cold_start(pool.name)
        return Instance(pool.name, pool.next_number(), proc, ours, signature, time.monotonic())

    def _reap(self) -> None:
        while not self._closed.is_set():
            with self._lock:
                pools = list(self._pools.values())
            idle = min((p.options.idle_seconds for p in pools), default=1.0)
            for pool in pools:
                pool.reap_idle(time.monotonic())
            self._closed.wait(min(max(idle / 4, 0.05), 1.0))

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        idle = all([pool.close() for pool in pools])
        # the spawner thread is the instances' parent as far as their death signal goes: it stays
        # while any of them serves a call (an idle thread, gone with the process)
        if self._spawner is not None and idle:
            self._spawner.shutdown(wait=False)

    def count(self, name: str | None = None) -> int:
        with self._lock:
            pools = list(self._pools.values())
        return sum(p.count() for p in pools if name is None or p.name == name)

    # -- calls --------------------------------------------------------------------------------
    def kill(self, key: str) -> bool:
        """Kill the instance running the call under ``key``: the call ends cancelled."""
        with self._lock:
            found = self._running.get(key)
            if found is None:
                return False
            self._killed.add(key)
        found[0].kill()
        return True

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def call(self, name: str, file: str, options: InstanceOptions, request: dict[str, Any], key: str,
             limit: float, cancelled: Callable[[str], bool] = lambda key: False) -> CallResult:
        """Run one call on an instance of the function, for at most ``limit`` seconds once it has
        one (raises ``Throttled`` when too many wait). ``cancelled(key)``: whether the call was
        cancelled before it reached an instance."""
        pool = self.pool(name, file, options)
        data = json.dumps(request).encode()
        cold = False
        while True:
            got = pool.acquire(file_signature(file), lambda: cancelled(key))
            if got is None:
                return CallResult(cancelled=True, cold=cold)
            instance, started = got
            deadline = time.monotonic() + limit
            cold = cold or started
            with self._lock:
                self._running[key] = (instance, pool)
            if cancelled(key):  # a kill that came while the call waited: it never starts
                with self._lock:
                    self._running.pop(key, None)
                    self._killed.discard(key)
                pool.release(instance, keep=True)
                return CallResult(cancelled=True, cold=cold, instance=instance.label)
            try:
                result = self._exchange(instance, data, deadline)
            finally:
                with self._lock:
                    self._running.pop(key, None)
                    killed = key in self._killed
                    self._killed.discard(key)
            if result is None and not killed and not started:  # it had died while idle: not this call's doing
                pool.release(instance, keep=False)
                continue
            if result is None:  # a new instance that could not take a call: it died starting
                result = CallResult(crashed=not killed)
            result.cold, result.instance, result.cancelled = cold, instance.label, killed
            if result.timed_out or result.cancelled or result.crashed:
                instance.kill()
                result.exit = result.exit or instance.reap()
            pool.release(instance, keep=result.reply is not None and not result.reply.get("retire"))
            return result

    def _exchange(self, instance: Instance, data: bytes, deadline: float) -> CallResult | None:
        """Send one call to the instance and read its pipes until the result (or the deadline, or the
        instance's end). None: the instance could not take the call at all."""
        request_r, request_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        result_r, result_w = os.pipe()
        try:
            socket.send_fds(instance.sock, [b"{}"], [request_r, out_w, err_w, result_w])
        except OSError:
            for fd in (request_r, request_w, out_r, out_w, err_r, err_w, result_r, result_w):
                os.close(fd)
            instance.dead = True
            return None
        for fd in (request_r, out_w, err_w, result_w):
            os.close(fd)
        out, err, result = Capture(LOG_LIMIT), Capture(LOG_LIMIT), Capture(None)
        streams = {out_r: out, err_r: err, result_r: result}
        outcome = CallResult()
        try:
            finished = _pump(request_w, data, streams, result_r, deadline)
        finally:
            for fd in streams:
                os.close(fd)
        outcome.stdout, outcome.stderr = out.text(), err.text()
        if not finished:
            outcome.timed_out = True
            return outcome
        reply = _frame(bytes(result.data))
        if reply is None:
            outcome.crashed = True
            instance.dead = True
            outcome.exit = instance.reap()
        else:
            outcome.reply = reply
        return outcome


def _frame(data: bytes) -> dict[str, Any] | None:
    if len(data) < FRAME.size:
        return None
    (size,) = FRAME.unpack_from(data)
    if len(data) < FRAME.size + size:
        return None
    value = json.loads(data[FRAME.size:FRAME.size + size])
    return value if isinstance(value, dict) else None


def _pump(request_w: int, data: bytes, streams: dict[int, Capture], result_r: int, deadline: float) -> bool:
    """Write the request and read the call's pipes until its result pipe closes; then read what is
    left of its output for a moment. False when the deadline passed first."""
    view, offset = memoryview(data), 0
    with selectors.DefaultSelector() as selector:
        os.set_blocking(request_w, False)
        selector.register(request_w, selectors.EVENT_WRITE)
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        result_open = True
        grace = 0.0
        try:
            while selector.get_map():
                now = time.monotonic()
                if result_open:
                    remaining = deadline - now
                    if remaining <= 0:
                        return False
                else:
                    remaining = grace - now
                    if remaining <= 0:
                        break
                for key, _ in selector.select(remaining):
                    fd = key.fd
                    if fd == request_w:
                        try:
                            offset += os.write(fd, view[offset:offset + 65536])
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:
                            offset = len(data)
                        if offset >= len(data):
                            selector.unregister(fd)
                            os.close(fd)
                            request_w = -1
                        continue
                    chunk = os.read(fd, 65536)
                    if chunk:
                        streams[fd].add(chunk)
                        continue
                    selector.unregister(fd)
                    if fd == result_r:
                        result_open = False
                        grace = time.monotonic() + LOG_GRACE
                        if request_w >= 0:
                            selector.unregister(request_w)
                            os.close(request_w)
                            request_w = -1
        finally:
            if request_w >= 0:
                os.close(request_w)
    return True
