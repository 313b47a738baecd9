"""Rows as both stores read them, and what they decode to: the columns of an execution, a flow, a
schedule and a history event, in the order the mixins select them."""

from __future__ import annotations

from typing import Any

from stateway.jsontext import loads
from stateway.store._types import ExecutionRow

EXEC_COLUMNS = ("id, flow_name, name, status, input, output, error, cause, started, stopped, state, definition, "
                "parent_id, parent_task, callback_token, flow_version, qualifier, map_run, redrive_count, redriven")
FLOW_COLUMNS = "name, id, definition, meta, created, modified"
SCHEDULE_COLUMNS = ("flow_name", "name", "id", "cron", "description", "enable", "payload", "created", "modified",
                    "next_fire")
HISTORY_COLUMNS = "event_id, type, step_name, time, schedule_event_id, detail"
MESSAGE_COLUMNS = "id, body, priority, enqueued, first_dequeued, dequeue_count, properties"


def loads_or_none(text: str | None) -> Any:
    return None if text is None else loads(text)


def execution_row(row: tuple[Any, ...]) -> ExecutionRow:
    return ExecutionRow(
        id=row[0], flow_name=row[1], name=row[2], status=row[3], input=loads(row[4]), output=loads_or_none(row[5]),
        error=row[6], cause=row[7], started=row[8], stopped=row[9], state=loads_or_none(row[10]), definition=row[11],
        parent_id=row[12], parent_task=row[13], callback_token=row[14], flow_version=row[15], qualifier=row[16],
        map_run=row[17], redrive_count=row[18] or 0, redriven=row[19])


def flow_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"name": row[0], "id": row[1], "definition": row[2], "meta": loads_or_none(row[3]), "created": row[4],
            "modified": row[5]}


def schedule_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    schedule = dict(zip(SCHEDULE_COLUMNS, row, strict=True))
    schedule["enable"] = bool(schedule["enable"])
    return schedule


def history_event(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"EventId": row[0], "Type": row[1], "StepName": row[2], "Time": row[3], "ScheduleEventId": row[4],
            "EventDetail": loads(row[5])}
