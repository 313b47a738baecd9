"""``redis://host:port/DB?stream=NAME&group=GROUP[&dead=NAME][&consumer=NAME][&claim_after=SECONDS]``:
a Redis stream read through a consumer group, with redis-py.

New entries come from XREADGROUP. An entry delivered and not acknowledged (its worker died) stays
pending; after ``claim_after`` seconds idle (default 30) another consumer takes it over with
XCLAIM, which counts one more delivery. ``attempt`` is that count (XPENDING). An entry delivered
``max_deliveries`` times already is not handed out again: it is moved to the dead-letter stream
(``NAME-dead`` by default) with its reason, and acknowledged. ``nack`` makes an entry deliverable
again at once (to this consumer, on its next ``receive``). The body is the entry's ``message``
field (what Redis:SendMessage writes), else its only field, else the fields as JSON.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

log = logging.getLogger("stateway.worker")
BODY_FIELD = "message"


def _body(fields: dict[str, str]) -> str:
    if BODY_FIELD in fields:
        return fields[BODY_FIELD]
    if len(fields) == 1:
        return next(iter(fields.values()))
    return json.dumps(fields, ensure_ascii=False)


class RedisDelivery:
    def __init__(self, source: RedisSource, entry_id: str, fields: dict[str, str], attempt: int) -> None:
        self.source = source
        self.id = entry_id
        self.fields = fields
        self.body = _body(fields)
        self.attempt = attempt

    def ack(self) -> None:
        self.source.client.xack(self.source.stream, self.source.group, self.id)

    def nack(self) -> None:
        with self.source._lock:
            self.source._again.append(self.id)

    def dead_letter(self, reason: str) -> None:
        self.source._dead_letter(self.id, self.fields, reason, self.attempt)


class RedisSource:
    def __init__(self, uri: str, *, max_deliveries: int = 5, claim_after: float | None = None,
                 consumer: str | None = None, **options: Any) -> None:
        import redis

        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query))
        self.stream = query.pop("stream", "")
        self.group = query.pop("group", "") or "stateway"
        if not self.stream:
            raise ValueError("a redis:// source names its stream: redis://host:port/DB?stream=NAME&group=GROUP")
        self.dead_letter_name = query.pop("dead", None) or options.pop("dead", None) or f"{self.stream}-dead"
        self.consumer = consumer or query.pop("consumer", None) or \
            f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.claim_after = float(claim_after if claim_after is not None else query.pop("claim_after", 30))
        self.max_deliveries = max(1, int(max_deliveries))
        query.pop("claim_after", None)
        url = parts._replace(query=urlencode(query)).geturl()
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        # redis-py reconnects a dropped connection on its next use; a few quick retries ride out a blip
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5,
                                           health_check_interval=30, retry=Retry(ExponentialBackoff(1, 0.05), 3))
        self._lock = threading.Lock()
        self._again: list[str] = []
        self._next_claim = 0.0
        self._group_ready = False

    def _ensure_group(self) -> None:
        import redis

        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _dead_letter(self, entry_id: str, fields: dict[str, str], reason: str, deliveries: int) -> None:
        record = {**fields, "deadReason": reason[:1000], "deadFromStream": self.stream, "deadFromId": entry_id,
                  "deadDeliveries": str(deliveries)}
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.dead_letter_name, record)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.execute()

    def _claim(self, counts: dict[str, int], min_idle_ms: int) -> list[RedisDelivery]:
        """Take these pending entries (id → deliveries so far) over; each counts one more delivery."""
        if not counts:
            return []
        found = []
        for entry_id, fields in self.client.xclaim(self.stream, self.group, self.consumer, min_idle_ms, list(counts)):
            deliveries = counts.get(entry_id, 0) + 1
            if fields is None:  # trimmed from the stream meanwhile: nothing to hand out
                self.client.xack(self.stream, self.group, entry_id)
            elif deliveries > self.max_deliveries:
                self._dead_letter(entry_id, fields, f"delivered {deliveries - 1} times without being handled "
                                  f"(max_deliveries {self.max_deliveries})", deliveries - 1)
            else:
                found.append(RedisDelivery(self, entry_id, fields, deliveries))
        return found

    def _stale(self, limit: int) -> list[RedisDelivery]:
        """Entries other (dead) consumers left pending longer than ``claim_after``."""
        now = time.monotonic()
        if now < self._next_claim:
            return []
        self._next_claim = now + min(1.0, self.claim_after / 4)
        idle = int(self.claim_after * 1000)
        pending = self.client.xpending_range(self.stream, self.group, min="-", max="+", count=max(limit, 10),
                                             idle=idle)
        return self._claim({p["message_id"]: int(p["times_delivered"]) for p in pending}, idle)

    def receive(self, max_messages: int, wait_seconds: float) -> list[RedisDelivery]:
        import redis

        try:
            try:
                return self._receive(max_messages, wait_seconds)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._group_ready = False  # the stream or its group went away (a server without persistence)
                return self._receive(max_messages, wait_seconds)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # the server is away: nothing to hand out now; redis-py reconnects on the next call
            log.warning("Redis source %s: %s: %s", self.stream, type(exc).__name__, exc)
            time.sleep(min(1.0, max(0.0, wait_seconds)))
            return []

    def _receive(self, max_messages: int, wait_seconds: float) -> list[RedisDelivery]:
        self._ensure_group()
        limit = max(1, max_messages)
        with self._lock:
            again, self._again = self._again[:limit], self._again[limit:]
        counts = {}
        for entry_id in again:
            for item in self.client.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1):
                counts[item["message_id"]] = int(item["times_delivered"])
        found = self._claim(counts, 0)
        if len(found) < limit:
            found += self._stale(limit - len(found))
        if found:
            return found
        block = max(1, int(wait_seconds * 1000)) if wait_seconds > 0 else None
        answer = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=limit, block=block)
        for _, entries in answer or []:
            for entry_id, fields in entries:
                found.append(RedisDelivery(self, entry_id, fields or {}, 1))
        return found

    def close(self) -> None:
        self.client.close()


def open(uri: str, **options: Any) -> RedisSource:  # noqa: A001  (the contract's name)
    return RedisSource(uri, **options)
