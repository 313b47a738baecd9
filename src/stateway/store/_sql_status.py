"""An execution's status alone, for waiters: woken whenever any execution ends, they must not read
and parse a large state each time. Both stores."""

from __future__ import annotations

from stateway.store._errors import ExecutionNotExists
from stateway.store._sql_base import SqlStore


class StatusMixin(SqlStore):
    def execution_status(self, execution_id: int) -> str:
        with self._read() as db:
            row = db.execute(self._sql("SELECT status FROM executions WHERE id=?"), (execution_id,)).fetchone()
        if row is None:
            raise ExecutionNotExists(f"no execution with id {execution_id}")
        return str(row[0])
