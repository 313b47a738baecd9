"""One engine per SQLite database: an exclusive lock file beside it, held for the process lifetime.

Two processes running the engine on one database would both claim work, so function calls and
HTTP requests would run twice. ``stateway serve`` and ``stateway run`` take the lock before they
open the store; a second one fails at once with the holder's pid. The lock is ``flock`` on
``<database>.lock``: the kernel releases it when the holder exits, even on kill -9, so a stale
file never blocks a restart. Commands that only read or enqueue (``stateway queue``) need no lock.
"""

from __future__ import annotations

import fcntl
import os


class DatabaseInUse(Exception):
    def __init__(self, path: str, pid: str) -> None:
        self.path = path
        self.pid = pid
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"the database {path} is in use by {holder} (lock file {path}.lock); "
                         "stop it, or use another --data-dir / --db")


class EngineLock:
    def __init__(self, database: str) -> None:
        self.database = os.path.abspath(database)
        self.path = self.database + ".lock"
        self._fd: int | None = None

    def acquire(self) -> EngineLock:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            finally:
                os.close(fd)
            raise DatabaseInUse(self.database, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __del__(self) -> None:  # an in-process caller (tests) that drops the lock frees the database
        self.release()


def lock_engine(database: str) -> EngineLock:
    """Take the engine lock of ``database`` (a path, not ``:memory:``) or raise DatabaseInUse."""
    return EngineLock(database).acquire()
