"""A distributed Map survives its runtime stopping mid-run: ends reported but not yet recorded are
in the outbox and recorded after the restart, and every item's child runs once."""

from __future__ import annotations

import time

from stateway.runtime import Runtime
from stateway.store import SQLiteStore

FLOW = """Type: StateMachine
SpecVersion: v1
Name: many
StartAt: Each
States:
  - Type: Map
    Name: Each
    ProcessorConfig: {Mode: Distributed}
    ItemsPath: $Input.items
    MaxConcurrency: 10
    Processor:
      StartAt: Item
      States:
        - {Type: Pass, Name: Item, End: true}
    OutputConstructor:
      count.$: length($Output.Items)
    End: true
"""


def ended_children(store: SQLiteStore) -> int:
    return sum(1 for r in store.list_executions("many", status="Succeeded", with_state=False) if r.parent_id)


def test_a_map_stopped_midway_finishes_after_a_restart_with_each_child_once(tmp_path):
    path = str(tmp_path / "db.sqlite")
    runtime = Runtime(SQLiteStore(path)).start()
    runtime.register_flow("many", FLOW)
    row = runtime.start_execution("many", {"items": [{"i": i} for i in range(300)]})
    deadline = time.monotonic() + 60
    while ended_children(runtime.store) < 40:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    runtime.close()
    runtime.store.close()
    again = Runtime(SQLiteStore(path)).start()
    try:
        ended = again.wait(row.id, 120)
        assert ended.status == "Succeeded" and ended.output == {"count": 300}, (ended.error, ended.cause)
        kids = [r for r in again.store.list_executions("many", with_state=False) if r.parent_id]
        assert len(kids) == 300 and {r.status for r in kids} == {"Succeeded"}
        assert again.store.pending_outbox() == []
    finally:
        again.close()
        again.store.close()
