"""PostgreSQL's ``send_message`` in one statement, in autocommit (one round trip, one durable
commit), where the shared SQL (``_sql_queues``) takes five: the queue's read, BEGIN, the message,
the wake-up notice, COMMIT. Every MNS:SendMessage task passes here. A queue that does not exist
yet goes the shared way, which creates it."""

from __future__ import annotations

import uuid
from typing import Any

from stateway.jsontext import dumps
from stateway.store._sql_queues import QueuesMixin

# parameters carry their types: an INSERT fed by a SELECT does not take them from its columns
SEND = ("WITH qs AS (SELECT 1 FROM queues WHERE name=%(q)s), "
        "ins AS (INSERT INTO messages (id, queue, body, priority, visible_at, enqueued, dequeue_count, properties) "
        "SELECT %(id)s::text, %(q)s::text, %(b)s::text, %(p)s::integer, %(v)s::float8, %(now)s::float8, 0, "
        "%(props)s::text FROM qs ON CONFLICT (id) DO NOTHING RETURNING 1) "
        "SELECT count(pg_notify(%(c)s, 'queue')) FROM qs")
# not durable: the statement's own transaction does not wait for the disk (set before its commit)
SEND_ASYNC = SEND + " WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL"


class PgMessagesMixin(QueuesMixin):
    _CHANNEL = ""  # the LISTEN/NOTIFY channel (PostgresStore's)

    def send_message(self, queue: str, body: str, priority: int, delay: float, now: float,
                     message_id: str | None = None, properties: dict[str, str] | None = None, *,
                     durable: bool = True) -> dict[str, Any]:
        message_id = message_id or uuid.uuid4().hex.upper()
        with self._read() as db:  # autocommit: the one statement is its own transaction
            found = db.execute(SEND if durable else SEND_ASYNC, {
                "q": queue, "id": message_id, "b": body, "p": priority, "v": now + delay, "now": now,
                "props": dumps(properties) if properties else None, "c": self._CHANNEL}).fetchone()[0]
        if not found:  # nothing was written: the shared way creates the queue first
            return super().send_message(queue, body, priority, delay, now, message_id, properties, durable=durable)
        return {"id": message_id}
