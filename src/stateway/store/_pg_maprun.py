"""A Map Run's child ends on PostgreSQL in about four round trips, whatever their number.

``MapRunsMixin.map_items_ended`` takes a statement per step. Here the steps that need no answer in
between travel together (psycopg's pipeline mode): the run's row lock, the reporting outbox rows'
delete, the successes' record and the flow-limit look-up in the first round trip; then the claim;
then the children's insert; then their start events, the counters and COMMIT. Two workers' ends
take turns on the run's row, so what is held under that lock is what bounds a distributed Map.

The commit does not wait for the disk (``_ASYNC_COMMIT``). What it writes is re-derived if a
database crash loses it: the outbox rows it deletes come back and are dispatched again, and nothing
that depends on it (a child's own commit) can be durable without it, as the WAL is flushed in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from stateway.jsontext import dumps
from stateway.store._sql_maprun import RUN_FIELDS, ItemEnd, MapRunsMixin, item_counts
from stateway.store.contract import StoreUnavailable


class PgMapRunsMixin(MapRunsMixin):
    _pool: Any
    connect_timeout: float

    @contextmanager
    def _pipelined_tx(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection(timeout=self.connect_timeout) as conn, conn.pipeline(), conn.transaction():
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"PostgreSQL is unavailable: {exc}") from exc

    def map_items_ended(self, name: str, ends: list[ItemEnd], now: float, *, outbox_done: Iterable[int] = ()
                        ) -> tuple[dict[str, Any] | None, int, int]:
        if not psycopg.Pipeline.is_supported():
            return super().map_items_ended(name, ends, now, outbox_done=outbox_done)
        done = list(outbox_done)
        # successes alone cannot exceed the tolerance: recorded at once, with no look at the counts first
        successes = {}
        if ends and all(ok for _, ok, *_ in ends):
            for idx, _, output, _, _ in ends:
                successes.setdefault(idx, dumps(output))
        with self._pipelined_tx() as db:
            db.execute(self._ASYNC_COMMIT)
            found = db.execute(f"SELECT {', '.join(RUN_FIELDS)} FROM map_runs WHERE name=%s FOR UPDATE", (name,))
            if done:
                db.execute("DELETE FROM outbox WHERE id = ANY(%s)", (done,))
            recorded = db.execute(
                "UPDATE map_run_items m SET status='succeeded', output=u.o FROM unnest(%s::int[], %b::text[]) "
                "AS u(i, o) WHERE m.run=%s AND m.idx=u.i AND m.status='running' AND EXISTS "
                "(SELECT 1 FROM map_runs r WHERE r.name=%s AND r.status='Running') RETURNING m.weight",
                (list(successes), list(successes.values()), name, name)) if successes else None
            limited = db.execute("SELECT EXISTS (SELECT 1 FROM flow_limits l JOIN map_runs r ON "
                                 "r.flow_name = l.flow_name WHERE r.name=%s)", (name,))
            row = found.fetchone()  # the first round trip
            if row is None:
                return None, 0, 0
            run = dict(zip(RUN_FIELDS, row, strict=True))
            counted = dict(run)
            if recorded is not None:
                weights = [w for (w,) in recorded.fetchall()]
                run["n_succeeded"] += sum(weights)
                run["n_running"] -= sum(weights)
                run["live"] -= len(weights)
                ends = []
            run["counts"] = item_counts(run)
            started, waiting = self._ended_and_refilled(db, run, counted, ends, now, bool(limited.fetchone()[0]))
        return run, started, waiting
