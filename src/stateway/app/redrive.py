"""RedriveExecution (Step Functions' semantics, docs/design/redrive.md): an execution that ended
Failed, TimedOut or Stopped carries on from where it failed, as the same execution (name, input,
definition version), within ``[retention] redrive_days`` of its end.

The rules are checked here, for a clear reason; the store's conditional update decides races (two
redrives at once, on one process or many: one wins, the other is told it is running already)."""

from __future__ import annotations

from stateway.app.errors import ExecutionNotRedrivable
from stateway.engine._redrive import redrivable
from stateway.runtime import Runtime
from stateway.store import ExecutionNotExists, ExecutionRow

DAY = 86400.0
REDRIVABLE = "REDRIVABLE"
NOT_REDRIVABLE = "NOT_REDRIVABLE"


def redrive_status(row: ExecutionRow, now: float, redrive_days: float) -> tuple[str, str]:
    """``(REDRIVABLE, "")`` or ``(NOT_REDRIVABLE, why)``. ``row`` must carry its state."""
    if row.status in ("Running", "Starting"):
        return NOT_REDRIVABLE, "the execution is running (it may be being redriven already)"
    if row.status == "Succeeded":
        return NOT_REDRIVABLE, "the execution succeeded; only Failed, TimedOut and Stopped executions can be redriven"
    if row.status not in ("Failed", "TimedOut", "Stopped"):
        return NOT_REDRIVABLE, f"the execution is {row.status}"
    if row.stopped is not None and row.stopped < now - redrive_days * DAY:
        return NOT_REDRIVABLE, (f"the execution ended more than {redrive_days:g} days ago ([retention] "
                                "redrive_days)")
    if not redrivable(row.state):
        return NOT_REDRIVABLE, "the execution kept no state to resume from (it ended before redrive existed)"
    return REDRIVABLE, ""


class Redrives:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store

    @property
    def redrive_days(self) -> float:
        return self.runtime.settings.retention.redrive_days

    def status(self, row: ExecutionRow) -> tuple[str, str]:
        return redrive_status(row, self.runtime.clock.now(), self.redrive_days)

    def redrive(self, flow_name: str, name: str) -> ExecutionRow:
        """Redrive the execution; the row as it is now (Running). ``ExecutionNotRedrivable`` saying why
        not, ``ExecutionNotExists`` / ``FlowNotExists`` when there is no such execution."""
        row = self.store.find_execution(flow_name, name)
        if row is None:
            self.store.get_flow(flow_name)
            raise ExecutionNotExists(f"the execution {name!r} of flow {flow_name!r} does not exist")
        now = self.runtime.clock.now()
        status, why = redrive_status(row, now, self.redrive_days)
        if status != REDRIVABLE:
            raise ExecutionNotRedrivable(f"{flow_name}/{name} cannot be redriven: {why}")
        if self.store.redrive_execution(row.id, now, now - self.redrive_days * DAY) is None:
            raise ExecutionNotRedrivable(f"{flow_name}/{name} cannot be redriven: the execution is running already "
                                         "(another redrive got there first)")
        self.runtime.notify()
        return self.store.get_execution(row.id)
