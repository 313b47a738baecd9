"""Schedules: a cron expression and a payload per flow, and when each fires next. Both stores;
``advance_schedule`` moves a firing on only from the time it was read at, so each firing happens
once whatever the number of workers."""

from __future__ import annotations

from typing import Any

from stateway.store._errors import FlowNotExists, ScheduleAlreadyExists, ScheduleNotExists
from stateway.store._sql_base import SqlStore
from stateway.store._sql_rows import SCHEDULE_COLUMNS, schedule_dict

_SELECT = f"SELECT {', '.join(SCHEDULE_COLUMNS)} FROM schedules"


class SchedulesMixin(SqlStore):
    def put_schedule(self, schedule: dict[str, Any], *, create: bool) -> dict[str, Any]:
        sql = self._sql
        flow_name, name = schedule["flow_name"], schedule["name"]
        values = [bool(schedule[c]) if c == "enable" else schedule[c] for c in SCHEDULE_COLUMNS]
        try:
            with self._tx() as db:
                exists = db.execute(sql("SELECT 1 FROM schedules WHERE flow_name=? AND name=?" + self._FOR_UPDATE),
                                    (flow_name, name)).fetchone()
                if create and exists:
                    raise ScheduleAlreadyExists(f"the schedule {name!r} of flow {flow_name!r} already exists")
                if not create and not exists:
                    raise ScheduleNotExists(f"the schedule {name!r} of flow {flow_name!r} does not exist")
                if create and db.execute(sql("SELECT 1 FROM flows WHERE name=?"), (flow_name,)).fetchone() is None:
                    raise FlowNotExists(f"the flow {flow_name!r} does not exist")
                if create:
                    db.execute(sql(f"INSERT INTO schedules ({', '.join(SCHEDULE_COLUMNS)}) "
                                   f"VALUES ({', '.join('?' * len(SCHEDULE_COLUMNS))})"), values)
                else:
                    db.execute(sql(f"UPDATE schedules SET {', '.join(c + '=?' for c in SCHEDULE_COLUMNS)} "
                                   "WHERE flow_name=? AND name=?"), [*values, flow_name, name])
        except self._DUPLICATE:  # another node created it between our read and our insert
            raise ScheduleAlreadyExists(f"the schedule {name!r} of flow {flow_name!r} already exists") from None
        return schedule

    def get_schedule(self, flow_name: str, name: str) -> dict[str, Any]:
        with self._read() as db:
            row = db.execute(self._sql(f"{_SELECT} WHERE flow_name=? AND name=?"), (flow_name, name)).fetchone()
        if row is None:
            raise ScheduleNotExists(f"the schedule {name!r} of flow {flow_name!r} does not exist")
        return schedule_dict(row)

    def list_schedules(self, flow_name: str) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(self._sql(f"{_SELECT} WHERE flow_name=? ORDER BY created, name"), (flow_name,)).fetchall()
        return [schedule_dict(r) for r in rows]

    def delete_schedule(self, flow_name: str, name: str) -> None:
        with self._tx() as db:
            if db.execute(self._sql("DELETE FROM schedules WHERE flow_name=? AND name=?"),
                          (flow_name, name)).rowcount == 0:
                raise ScheduleNotExists(f"the schedule {name!r} of flow {flow_name!r} does not exist")

    def due_schedules(self, now: float) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(self._sql(f"{_SELECT} WHERE enable = TRUE AND next_fire IS NOT NULL AND next_fire <= ?"),
                              (now,)).fetchall()
        return [schedule_dict(r) for r in rows]

    def advance_schedule(self, flow_name: str, name: str, fired: float, next_fire: float | None) -> None:
        with self._tx() as db:
            db.execute(self._sql("UPDATE schedules SET next_fire=? WHERE flow_name=? AND name=? AND next_fire=?"),
                       (next_fire, flow_name, name, fired))
