"""A function instance: one long-lived process that imports a Python handler once and serves its
calls (``docs/architecture.md``, "Function instances").

The engine starts it with ``python -m stateway.services.function_host``, a Unix socket
(``SOCK_SEQPACKET``) on the descriptor ``STATEWAY_HOST_FD`` and its settings as JSON in
``STATEWAY_HOST_CONFIG``. Each call is one message on the socket: a small JSON header with four
file descriptors attached (SCM_RIGHTS), all pipes the engine made for this call:

- ``request``: the call's JSON (event and context), read to its end;
- ``stdout``, ``stderr``: what the call prints. With ``instance_concurrency = 1`` they become the
  process's fd 1 and 2 for the call, so even a child process's output is the call's;
- ``result``: one frame, a 4-byte big-endian length then the JSON reply. The handler never sees
  this descriptor, so nothing it prints can corrupt the reply.

The engine reads the pipes while the call runs (a function printing a lot never blocks). A
closed socket (the engine went away) ends the instance, and so does the engine's death: the
instance asks the kernel for SIGKILL when its parent dies, and checks it still has that parent.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import socket
import struct
import sys
import threading
import traceback
from typing import Any

# a raised exception's Detail keeps this many innermost traceback frames
TRACE_FRAMES = 5
GENERIC_BASES = frozenset({"BaseException", "Exception", "object"})
FRAME = struct.Struct(">I")
PR_SET_PDEATHSIG = 1


class Context:
    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)

    def __getitem__(self, key: str) -> object:
        return self.__dict__[key]

    def get(self, key: str, default: object = None) -> object:
        return self.__dict__.get(key, default)


def result_value(value: Any) -> Any:
    """The JSON value of what a handler returned: text (or UTF-8 bytes) that is JSON is decoded,
    as for command functions; other text stays text. Raises TypeError naming what is not JSON."""
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode()
        except UnicodeDecodeError:
            raise TypeError("the function returned bytes that are not UTF-8 text") from None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"the function returned a value that is not JSON: {_not_json(value, exc)}") from None
    return value


def _not_json(value: Any, exc: BaseException) -> str:
    """Name the offending type: the returned value's own, or the innermost one json refused."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, ValueError):
        return f"{exc} (NaN and Infinity are not JSON)"
    message = str(exc)  # "Object of type set is not JSON serializable"
    if message.startswith("Object of type "):
        inner = message[len("Object of type "):].split(" ", 1)[0]
        if inner != type(value).__name__:
            return f"{type(value).__name__} holding a {inner}"
        return f"a {inner}"
    return f"{type(value).__name__} ({message})"


def failure(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    names = [k.__name__ for k in kind.__mro__ if k.__name__ not in GENERIC_BASES]
    message = str(exc) or kind.__name__
    # the host's own frame and the import machinery say nothing about the function
    stack = [f for f in traceback.extract_tb(exc.__traceback__)
             if f.filename != __file__ and not f.filename.startswith("<frozen")][-TRACE_FRAMES:]
    frames = ["Traceback (most recent call last):\n", *traceback.format_list(stack)] if stack else []
    chosen = getattr(exc, "error_name", None)
    return {"ok": False, "type": kind.__name__, "classes": names, "message": message,
            "trace": "".join(frames), "error": chosen if isinstance(chosen, str) and chosen else None}


class _Routed(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of an instance serving calls at once: each thread writes to its
    own call's pipe, anything else to the process's descriptor."""

    def __init__(self, base: Any, local: threading.local, name: str) -> None:
        self._base, self._local, self._name = base, local, name

    def _target(self) -> Any:
        return getattr(self._local, self._name, None) or self._base

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def fileno(self) -> int:
        return self._target().fileno()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class Host:
    def __init__(self, config: dict[str, Any]) -> None:
        self.file: str = config["file"]
        self.initializer: str | None = config.get("initializer")
        self.concurrency: int = int(config.get("concurrency", 1))
        self.memory_mb: int = int(config.get("memory_mb") or 0)
        self.once: bool = bool(config.get("once"))
        self.module: Any = None
        self._loading = threading.Lock()
        self._null = os.open(os.devnull, os.O_RDWR)
        self._local = threading.local()
        if self.concurrency > 1:
            sys.stdout = _Routed(sys.stdout, self._local, "out")
            sys.stderr = _Routed(sys.stderr, self._local, "err")

    def serve(self, sock: socket.socket) -> None:
        threads: list[threading.Thread] = []
        while True:
            try:
                message, fds, _flags, _addr = socket.recv_fds(sock, 65536, 4)
            except (OSError, ValueError):
                break
            if not message:  # the engine closed its end
                break
            for fd in fds:
                os.set_inheritable(fd, False)
            header = json.loads(message)
            if len(fds) != 4:
                for fd in fds:
                    os.close(fd)
                continue
            if self.concurrency > 1:
                thread = threading.Thread(target=self.call, args=(header, fds), daemon=True)
                thread.start()
                threads = [t for t in threads if t.is_alive()] + [thread]
            else:
                self.call(header, fds)
            if self.once:
                break
        for thread in threads:
            thread.join()

    def load(self, context: Context) -> Any:
        """The handler's module, imported (and initialized) once per instance."""
        with self._loading:
            if self.module is None:
                spec = importlib.util.spec_from_file_location("stateway_function", self.file)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules["stateway_function"] = module
                spec.loader.exec_module(module)
                if self.initializer:
                    getattr(module, self.initializer.rsplit(".", 1)[-1])(context)
                self.module = module
            return self.module

    def call(self, header: dict[str, Any], fds: list[int]) -> None:
        request_fd, out_fd, err_fd, result_fd = fds
        with os.fdopen(request_fd, "rb") as request_stream:
            request = json.loads(request_stream.read())
        single = self.concurrency == 1
        if single:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(out_fd, 1)
            os.dup2(err_fd, 2)
            os.close(out_fd)
            os.close(err_fd)
            os.environ["STATEWAY_REQUEST_ID"] = str(request["context"].get("request_id", ""))
            if request["context"].get("traceparent"):  # this call's task span (docs/telemetry.md)
                os.environ["TRACEPARENT"] = str(request["context"]["traceparent"])
            else:
                os.environ.pop("TRACEPARENT", None)
        else:
            self._local.out = io.TextIOWrapper(os.fdopen(out_fd, "wb"), encoding="utf-8", line_buffering=True)
            self._local.err = io.TextIOWrapper(os.fdopen(err_fd, "wb"), encoding="utf-8", line_buffering=True)
        context = Context(request["context"])
        retire = False
        try:
            try:
                module = self.load(context)
            except BaseException:
                retire = True  # a half-imported module or a failed initializer: start afresh next time
                raise
            reply: dict[str, Any] = {"ok": True, "result": result_value(module.handler(request["event"], context))}
        except BaseException as exc:  # the function's failure is the result, whatever it was
            reply = failure(exc)
            if isinstance(exc, MemoryError):
                retire = True
                if self.memory_mb:
                    reply["error"] = "FC.ResourceExhausted"
                    reply["message"] = (f"the function ran out of its memory_mb = {self.memory_mb} MiB "
                                        f"({reply['message']})")
        try:
            payload = json.dumps({**reply, "retire": retire}).encode()
        except (TypeError, ValueError, MemoryError) as exc:
            payload = json.dumps({**failure(exc), "retire": True}).encode()
        if single:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(self._null, 1)  # the call's pipes close here: the engine sees their end
            os.dup2(self._null, 2)
        else:
            for name in ("out", "err"):
                stream = getattr(self._local, name)
                setattr(self._local, name, None)
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
        with os.fdopen(result_fd, "wb") as result:
            result.write(FRAME.pack(len(payload)) + payload)


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the engine dies (set here, in the child: the engine forks nothing under its GIL)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):
        pass
    if parent and os.getppid() != parent:  # the engine died before the request took effect
        os._exit(1)


def _limit_memory(megabytes: int) -> None:
    if megabytes > 0:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def main() -> int:
    config = json.loads(os.environ["STATEWAY_HOST_CONFIG"])
    _die_with_parent(int(config.get("parent") or 0))
    _limit_memory(int(config.get("memory_mb") or 0))
    import faulthandler

    faulthandler.enable()  # a native crash leaves its stack on the call's stderr
    sock = socket.socket(fileno=int(os.environ["STATEWAY_HOST_FD"]))
    Host(config).serve(sock)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # daemon threads and the handler's atexit hooks must not outlive the engine's word


if __name__ == "__main__":
    sys.exit(main())
