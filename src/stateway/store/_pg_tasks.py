"""PostgreSQL's ``complete_task`` in one statement, in autocommit (one round trip, one durable
commit): the open task's deletion, its result queued in the inbox and the wake-up notice, where the
shared SQL (``_sql_tasks``) takes five round trips (BEGIN, three statements, COMMIT). A request's
signature nonce waiting for its write (``nonce_in_next_write``: ReportTaskSucceeded/Failed) goes
into the same statement, and a replay deletes nothing. Every function result passes here too."""

from __future__ import annotations

from typing import Any

from stateway.jsontext import dumps
from stateway.store._sql_nonces import NoncesMixin

# the task's deletion and the result's insertion (with the notice) after it; data-modifying
# CTEs run as one statement, atomically, in one snapshot
_COMPLETE = ("gone AS (DELETE FROM open_tasks WHERE execution_id=%(x)s AND task_id=%(t)s{gate} RETURNING execution_id), "
             "queued AS (INSERT INTO inbox (execution_id, due, event) SELECT execution_id, 0, %(e)s FROM gone "
             "RETURNING execution_id) ")
PLAIN = "WITH " + _COMPLETE.format(gate="") + "SELECT 1, (SELECT count(pg_notify(%(c)s, 'work')) FROM queued)"
WITH_NONCE = (
    "WITH n AS (INSERT INTO nonces (nonce, seen) VALUES (%(n)s, %(now)s) ON CONFLICT (nonce) DO UPDATE "
    "SET seen=excluded.seen WHERE nonces.seen < %(old)s RETURNING 1), "
    + _COMPLETE.format(gate=" AND EXISTS (SELECT 1 FROM n)")
    + "SELECT (SELECT count(*) FROM n), (SELECT count(pg_notify(%(c)s, 'work')) FROM queued)")


class PgTasksMixin(NoncesMixin):
    _CHANNEL = ""  # the LISTEN/NOTIFY channel (PostgresStore's)

    def complete_task(self, execution_id: int, task_id: str, event: dict[str, Any]) -> bool:
        """Close an open task and queue its result, atomically. False when it was already closed."""
        pending = self._pending_nonce()
        args: dict[str, Any] = {"x": execution_id, "t": task_id, "e": dumps(event), "c": self._CHANNEL}
        if pending is not None:
            args.update(n=pending.nonce, now=pending.now, old=pending.now - pending.window)
        with self._read() as db:  # autocommit: the one statement is its own transaction, committed durably
            accepted, done = db.execute(WITH_NONCE if pending is not None else PLAIN, args).fetchone()
        if pending is not None:
            self._nonce_written(pending, bool(accepted))
        return bool(done)
