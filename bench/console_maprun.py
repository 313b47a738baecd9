"""The console's Map Run page on a 10,000-item distributed Map: time to first byte of the page,
its failed-items filter, a deep keyset page, its live refresh, and the parent's page with the
Map Run card.

The run and its items are written in one transaction (a fixture, not a measurement: running
10,000 child executions would time the engine, not the page); the parent is a real execution.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from bench.console import measure_pages, signed_in
from stateway.jsontext import dumps
from stateway.runtime import Runtime
from stateway.store import SQLiteStore
from stateway.store._sql_maprun import RUN_FIELDS

PARENT = """Type: StateMachine
SpecVersion: v1
StartAt: Done
States:
  - Type: Pass
    Name: Done
    End: true
"""
RUN = "0123456789abcdef0123456789abcdef"


def _fill(store: SQLiteStore, execution_id: int, items: int, failed_every: int) -> int:
    statuses = ["failed" if i % failed_every == failed_every - 1 else "succeeded" for i in range(items)]
    failed = statuses.count("failed")
    now = time.time()
    run = {"name": RUN, "execution_id": execution_id, "task_id": "4", "flow_name": "parent", "flow_version": "",
           "status": "Succeeded", "concurrency": 100, "tolerated_count": items, "tolerated_percentage": None,
           "execution_mode": "Express", "definition": "{}", "started": now - 60, "stopped": now, "error": None,
           "cause": None, "n_pending": 0, "n_running": 0, "n_succeeded": items - failed, "n_failed": failed,
           "n_aborted": 0, "live": 0, "globals": "{}", "writer": None}
    with store._tx() as db:  # the fixture
        db.execute(f"INSERT INTO map_runs ({', '.join(RUN_FIELDS)}) VALUES ({', '.join('?' * len(RUN_FIELDS))})",
                   tuple(run[f] for f in RUN_FIELDS))
        db.executemany("INSERT INTO map_run_items (run, idx, status, weight, input, output, error, cause) "
                       "VALUES (?, ?, ?, 1, ?, ?, ?, ?)",
                       [(RUN, i, s, dumps({"id": i, "name": f"item {i}", "size": i * 7 % 1000}),
                         dumps({"ok": True}) if s == "succeeded" else None,
                         "Item.Failed" if s == "failed" else None, "it failed" if s == "failed" else None)
                        for i, s in enumerate(statuses)])
    return failed


def maprun_pages(items: int = 10_000, runs: int = 9) -> dict[str, Any]:
    out: dict[str, Any] = {"items": items}
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(SQLiteStore(os.path.join(tmp, "console.db"))).start()
        try:
            runtime.register_flow("parent", PARENT)
            row = runtime.wait(runtime.start_execution("parent", {}, "big").id, 60)
            out["failed"] = _fill(runtime.store, row.id, items, 250)
            here = f"/flows/parent/executions/big/mapruns/{RUN}"
            with signed_in(runtime) as (client, base):
                measure_pages(client, base, {"page": here, "failed": here + "?status=failed",
                                             "deep": here + f"?after={items - 100}", "live": here + "/live",
                                             "parent": "/flows/parent/executions/big"}, runs, out)
        finally:
            runtime.close()
            runtime.store.close()
    return out


if __name__ == "__main__":
    print(maprun_pages())
