"""What a handler receives (``Task``) and what it raises to fail its task by name (``TaskFailure``)."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

TRACE_FRAMES = 5  # as function errors keep (services/function_host.py)
CAUSE_LIMIT = 4096


class TaskFailure(Exception):
    """``raise TaskFailure("Approval.TooLarge", "over the limit")`` fails the task with that error name,
    which the flow's Retry and Catch match."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


def failure_of(exc: BaseException) -> tuple[str, str]:
    """An unexpected exception as (error, cause): its class name, and ``Type: message`` followed by the
    innermost traceback frames, the shape function errors use."""
    if isinstance(exc, TaskFailure):
        return exc.error, exc.cause
    kind = type(exc).__name__
    head = f"{kind}: {exc}" if str(exc) else kind
    stack = traceback.extract_tb(exc.__traceback__)[-TRACE_FRAMES:]
    trace = "".join(["Traceback (most recent call last):\n", *traceback.format_list(stack)]) if stack else ""
    head = head[:CAUSE_LIMIT // 2]
    room = CAUSE_LIMIT - len(head) - 1
    cause = head if not trace else f"{head}\n{trace[-room:] if len(trace) > room else trace}".rstrip()
    return kind, cause


class Task:
    """One task to answer: ``message`` (the parsed JSON, or the text), ``token``, ``attempt`` (the
    delivery count), ``key`` (its correlation key, if it has one) and ``heartbeat()``."""

    def __init__(self, message: Any, token: str, attempt: int, body: str,
                 beat: Callable[[Task], dict[str, Any]], heartbeat_seconds: float | None = None,
                 key: str | None = None) -> None:
        self.message = message
        self.token = token
        self.attempt = attempt
        self.body = body
        self._beat = beat
        self.heartbeat_seconds = heartbeat_seconds  # None: not known yet (the first heartbeat tells)
        self._key = key
        self.traceparent: str | None = None  # the task attempt's W3C trace context, when the message carries it
        self.started = time.monotonic()
        self.last_beat = self.started
        self.ended = False  # the server said the task is over (answered elsewhere, stopped)
        self._lock = threading.Lock()

    def heartbeat(self) -> None:
        """Tell the server this task is alive, resetting its HeartbeatSeconds window. Errors reaching the
        server are logged, not raised: a missed beat is covered by the next one."""
        self._beat(self)

    def learned(self, answer: dict[str, Any]) -> None:
        """A heartbeat's answer: the window, and the correlation key."""
        with self._lock:
            self.last_beat = time.monotonic()
            window = answer.get("HeartbeatSeconds")
            if isinstance(window, (int, float)) and not isinstance(window, bool):
                self.heartbeat_seconds = float(window)
            if self._key is None and "CorrelationKey" in answer:
                self._key = str(answer.get("CorrelationKey") or "")

    @property
    def key_known(self) -> bool:
        return self._key is not None

    @property
    def key(self) -> str:
        """The task's correlation key ("" when it has none): from the message's ``correlationKey``
        field, or else asked of the server (one heartbeat)."""
        if self._key is None:
            self.heartbeat()
        return self._key or ""

    def __repr__(self) -> str:
        return f"Task(attempt={self.attempt}, token={self.token[:16]}…)"
