"""Where a worker's messages come from: one small interface over every queue or broker.

A source is opened from a URI (``mns://QUEUE``, ``amqp://…?queue=NAME``, ``redis://…?stream=S&group=G``,
``nats://…?subject=S&stream=N``). Each scheme lives in its own module, imported only when used, so a
worker that reads the built-in queue needs none of the broker client libraries.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

__all__ = ["Delivery", "Source", "SourceError", "open_source", "SCHEMES", "DEFAULT_MAX_DELIVERIES"]

DEFAULT_MAX_DELIVERIES = 5

# scheme -> (module, the optional extra that installs its client library)
SCHEMES: dict[str, tuple[str, str | None]] = {
    "mns": ("stateway.worker._mns", None),
    "amqp": ("stateway.worker._amqp", "rabbitmq"),
    "amqps": ("stateway.worker._amqp", "rabbitmq"),
    "redis": ("stateway.worker._redis", "redis"),
    "rediss": ("stateway.worker._redis", "redis"),
    "nats": ("stateway.worker._nats", "nats"),
}


class SourceError(Exception):
    """A source cannot be opened: unknown scheme, missing client library, bad URI."""


@runtime_checkable
class Delivery(Protocol):
    """One received message. Exactly one of ack / nack / dead_letter is called on it."""

    body: str      # the raw message body (text)
    attempt: int   # 1-based delivery count as the broker knows it

    def ack(self) -> None:
        """Remove the message for good (only after its report was accepted)."""

    def nack(self) -> None:
        """Make the message deliverable again (a transient failure)."""

    def dead_letter(self, reason: str) -> None:
        """Move the message to the dead-letter destination; it is never redelivered."""


@runtime_checkable
class Source(Protocol):
    dead_letter_name: str   # where dead letters go, for logs

    def receive(self, max_messages: int, wait_seconds: float) -> list[Delivery]:
        """Block up to ``wait_seconds`` for up to ``max_messages``; called from one receiver thread."""

    def close(self) -> None:
        ...


def open_source(uri: str, **options: Any) -> Source:
    """Open the source a URI names. ``options`` include ``max_deliveries`` (default 5): a message
    delivered that many times without an accepted report is dead-lettered instead of handled again."""
    scheme = urlsplit(uri).scheme.lower()
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in sorted(SCHEMES))
        raise SourceError(f"unknown source {uri!r}: the scheme must be one of {known}")
    module_name, extra = SCHEMES[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if extra and not (missing or "").startswith("stateway"):
            raise SourceError(f"{scheme}:// sources need an extra library ({missing} is missing): "
                              f"pip install stateway[{extra}]") from exc
        raise SourceError(f"{scheme}:// sources are not available: {exc}") from exc
    options.setdefault("max_deliveries", DEFAULT_MAX_DELIVERIES)
    return module.open(uri, **options)
