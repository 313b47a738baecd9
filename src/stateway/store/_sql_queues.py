"""The MNS-compatible queue: queues with attributes, and messages with visibility, priority and
delay; a receipt handle changes on every receive. Both stores (receivers on PostgreSQL pass over
messages another node is taking: ``_SKIP_LOCKED``)."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from stateway.jsontext import dumps, loads
from stateway.store._sql_base import SqlStore
from stateway.store._sql_rows import MESSAGE_COLUMNS

QUEUE_DEFAULTS = {"VisibilityTimeout": 30, "MaximumMessageSize": 65536, "MessageRetentionPeriod": 345600,
                  "DelaySeconds": 0, "PollingWaitSeconds": 0}
_READY = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE queue=? AND visible_at <= ? ORDER BY priority, seq LIMIT ?"


class QueuesMixin(SqlStore):
    def ensure_queue(self, name: str, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        """The queue, created with ``attributes`` (over the defaults) where missing."""
        select = self._sql("SELECT attributes, created FROM queues WHERE name=?")
        with self._read() as db:
            row = db.execute(select, (name,)).fetchone()
        if row is None:
            with self._tx() as db:
                db.execute(self._sql("INSERT INTO queues VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING"),
                           (name, dumps({**QUEUE_DEFAULTS, **(attributes or {})}), time.time()))
                row = db.execute(select, (name,)).fetchone()
        return {"name": name, "attributes": loads(row[0]), "created": row[1]}

    def get_queue(self, name: str) -> dict[str, Any] | None:
        now = time.time()
        with self._read() as db:
            row = db.execute(self._sql("SELECT attributes, created FROM queues WHERE name=?"), (name,)).fetchone()
            if row is None:
                return None
            counts = db.execute(self._sql(
                "SELECT COUNT(*) FILTER (WHERE visible_at <= ?), "
                "COUNT(*) FILTER (WHERE visible_at > ? AND dequeue_count > 0), "
                "COUNT(*) FILTER (WHERE visible_at > ? AND dequeue_count = 0) FROM messages WHERE queue=?"),
                (now, now, now, name)).fetchone()
        attributes = loads(row[0])
        return {"name": name, "attributes": attributes, "created": row[1],
                "modified": attributes.get("LastModifyTime", row[1]),
                "active": counts[0], "inactive": counts[1], "delayed": counts[2]}

    def create_queue(self, name: str, attributes: dict[str, Any]) -> str:
        """'created', 'same' (exists with these attributes) or 'conflict'."""
        existing = self.get_queue(name)
        if existing is None:
            with self._tx() as db:
                if db.execute(self._sql("INSERT INTO queues VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING"),
                              (name, dumps({**QUEUE_DEFAULTS, **attributes}), time.time())).rowcount == 1:
                    return "created"
            existing = self.get_queue(name)  # another node created it meanwhile
            if existing is None:  # and deleted it again
                return self.create_queue(name, attributes)
        same = all(existing["attributes"].get(k) == v for k, v in attributes.items())
        return "same" if same else "conflict"

    def set_queue_attributes(self, name: str, attributes: dict[str, Any]) -> bool:
        with self._tx() as db:
            row = db.execute(self._sql("SELECT attributes FROM queues WHERE name=?" + self._FOR_UPDATE),
                             (name,)).fetchone()
            if row is None:
                return False
            merged = {**loads(row[0]), **attributes, "LastModifyTime": time.time()}
            db.execute(self._sql("UPDATE queues SET attributes=? WHERE name=?"), (dumps(merged), name))
            return True

    def delete_queue(self, name: str) -> None:
        with self._tx() as db:
            db.execute(self._sql("DELETE FROM messages WHERE queue=?"), (name,))
            db.execute(self._sql("DELETE FROM queues WHERE name=?"), (name,))

    def list_queues(self) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(
                "SELECT q.name, q.attributes, q.created, "
                "(SELECT COUNT(*) FROM messages m WHERE m.queue=q.name) FROM queues q ORDER BY q.name").fetchall()
        return [{"name": r[0], "attributes": loads(r[1]), "created": r[2], "messages": r[3]} for r in rows]

    def peek_messages(self, queue: str, now: float, count: int) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(self._sql(_READY), (queue, now, count)).fetchall()
        return [{"id": r[0], "body": r[1], "priority": r[2], "enqueued": r[3],
                 "first_dequeued": r[4] if r[4] is not None else r[3], "dequeue_count": r[5],
                 "properties": loads(r[6]) if r[6] else {}} for r in rows]

    def next_visible(self, queue: str) -> float | None:
        """When the queue's next message becomes visible (now or later), or None if it has none."""
        with self._read() as db:
            row = db.execute(self._sql("SELECT MIN(visible_at) FROM messages WHERE queue=?"), (queue,)).fetchone()
        return row[0] if row else None

    def send_message(self, queue: str, body: str, priority: int, delay: float, now: float,
                     message_id: str | None = None, properties: dict[str, str] | None = None, *,
                     durable: bool = True) -> dict[str, Any]:
        """``durable=False``: the commit need not wait for the disk (a task's message: what is lost
        to a database crash is sent again, under the same ``message_id``, from the outbox row that a
        later, durable commit deletes; and whatever acts on it commits durably after it)."""
        self.ensure_queue(queue)
        message_id = message_id or uuid.uuid4().hex.upper()
        with self._tx() as db:
            if not durable and self._ASYNC_COMMIT:
                db.execute(self._ASYNC_COMMIT)
            db.execute(self._sql(
                "INSERT INTO messages (id, queue, body, priority, visible_at, enqueued, dequeue_count, seq, properties) "
                f"VALUES (?, ?, ?, ?, ?, ?, 0, {self._MESSAGE_SEQ}, ?) ON CONFLICT (id) DO NOTHING"),
                (message_id, queue, body, priority, now + delay, now, dumps(properties) if properties else None))
            self._notify(db, "queue")
        return {"id": message_id}

    def receive_messages(self, queue: str, now: float, count: int, visibility: float) -> list[dict[str, Any]]:
        sql = self._sql
        with self._tx() as db:
            rows = db.execute(sql(_READY + self._SKIP_LOCKED), (queue, now, count)).fetchall()
            out = []
            for r in rows:
                handle = f"{r[0]}-{secrets.token_hex(8)}"
                first = r[4] if r[4] is not None else now
                db.execute(sql("UPDATE messages SET visible_at=?, receipt_handle=?, dequeue_count=dequeue_count+1, "
                               "first_dequeued=? WHERE id=?"), (now + visibility, handle, first, r[0]))
                out.append({"id": r[0], "body": r[1], "priority": r[2], "enqueued": r[3], "first_dequeued": first,
                            "dequeue_count": r[5] + 1, "receipt_handle": handle, "next_visible": now + visibility,
                            "properties": loads(r[6]) if r[6] else {}})
            return out

    def delete_message(self, queue: str, receipt_handle: str) -> bool:
        with self._tx() as db:
            return db.execute(self._sql("DELETE FROM messages WHERE queue=? AND receipt_handle=?"),
                              (queue, receipt_handle)).rowcount == 1

    def change_visibility(self, queue: str, receipt_handle: str, visible_at: float) -> str | None:
        with self._tx() as db:
            row = db.execute(self._sql("SELECT id FROM messages WHERE queue=? AND receipt_handle=?" + self._FOR_UPDATE),
                             (queue, receipt_handle)).fetchone()
            if row is None:
                return None
            handle = f"{row[0]}-{secrets.token_hex(8)}"
            db.execute(self._sql("UPDATE messages SET visible_at=?, receipt_handle=? WHERE id=?"),
                       (visible_at, handle, row[0]))
            self._notify(db, "queue")
            return handle

    def withdraw_message(self, message_id: str) -> str:
        """Delete a message nobody has received yet; says what happened."""
        with self._tx() as db:
            row = db.execute(self._sql("SELECT dequeue_count FROM messages WHERE id=?" + self._FOR_UPDATE),
                             (message_id,)).fetchone()
            if row is None:
                return "gone"
            if row[0] > 0:
                return "received"
            db.execute(self._sql("DELETE FROM messages WHERE id=?"), (message_id,))
            return "withdrawn"
