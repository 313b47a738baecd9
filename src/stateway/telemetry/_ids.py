"""Trace and span ids derived from what an execution committed, never drawn at random.

Every worker that handles a piece of an execution (PostgreSQL, several processes) computes the same
ids from the execution id and the history event that opened the span, with no shared memory. The
ids are keyed with a value derived from the store's secret, so two deployments (or a store rebuilt
from scratch, whose execution ids restart at 1) never share a trace id.
"""

from __future__ import annotations

import base64
import hashlib
import json

ROOT = "x"  # the execution itself
STATE = "s"  # one entry into a state (keyed by its StepEntered event id)
SCOPE = "b"  # a Parallel branch or a Map iteration (its BranchEntered/IterationEntered event id)
TASK = "k"  # one task attempt (its TaskScheduled event id, which is the task id)
WAIT = "w"  # a task attempt waiting for its callback (its task id)
BACKOFF = "r"  # the pause before a retry (the StepFailed event id that asked for it)


class TraceIds:
    def __init__(self, secret: bytes, sample_ratio: float = 1.0) -> None:
        self._key = hashlib.sha256(b"stateway-trace-ids\0" + secret).digest()
        # the W3C/OpenTelemetry rule: sampled when the trace id's low 64 bits fall under the bound
        self._bound = round(max(0.0, min(1.0, sample_ratio)) * (1 << 64))

    def trace_id(self, execution_id: int) -> int:
        digest = hashlib.blake2b(b"t%d" % execution_id, key=self._key, digest_size=16).digest()
        return int.from_bytes(digest, "big") or 1

    def span_id(self, execution_id: int, kind: str, ref: int | str) -> int:
        digest = hashlib.blake2b(f"{kind}{execution_id}:{ref}".encode(), key=self._key, digest_size=8).digest()
        return int.from_bytes(digest, "big") or 1

    @property
    def sample_all(self) -> bool:
        return self._bound >= 1 << 64

    def sampled(self, trace_id: int) -> bool:
        return (trace_id & 0xFFFFFFFFFFFFFFFF) < self._bound

    def traceparent(self, execution_id: int, task_id: str | None = None) -> str:
        """W3C ``traceparent`` of a task attempt's span (or the execution's root span)."""
        trace = self.trace_id(execution_id)
        span = self.span_id(execution_id, TASK, task_id) if task_id else self.span_id(execution_id, ROOT, 0)
        return f"00-{trace:032x}-{span:016x}-{'01' if self.sampled(trace) else '00'}"


def token_task(token: str) -> tuple[int, str] | None:
    """(execution id, task id) named by a task token, read without checking its signature: a
    traceparent names spans, it grants nothing."""
    try:
        payload = token.split(".")[1]
        _, execution_id, _, task_id = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(execution_id), str(task_id)
    except (IndexError, ValueError, TypeError, AttributeError):
        return None
