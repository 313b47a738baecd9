"""Schedules: a flow started on a six-field cron expression with a fixed payload.

A schedule is the store's row (``flow_name, name, id, cron, description, enable, payload, created,
modified, next_fire``); the runtime's loop fires due rows. Every change recomputes ``next_fire``
from now, so a schedule switched on fires at its next matching second, not for the ones it missed.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from stateway.app._checks import check_name, json_object
from stateway.runtime import InvalidArgument
from stateway.runtime._cron import Cron
from stateway.store import Store


def parse_cron(expression: str) -> Cron:
    try:
        return Cron.parse(expression)
    except ValueError as exc:  # a CronError, or int('²') of a digit that is not a number
        raise InvalidArgument(f"CronExpression: {exc}") from None


def check_payload(payload: str) -> str:
    """The input each firing starts with: a JSON object, kept as the text given."""
    if payload:
        json_object(payload, "Payload")
    return payload


class Schedules:
    def __init__(self, store: Store, clock: Any = time.time) -> None:
        self.store = store
        self._now = clock

    def create(self, flow_name: str, name: str, cron: str, *, payload: str = "", description: str = "",
               enable: bool = False) -> dict[str, Any]:
        check_name(name, "ScheduleName")
        parsed = parse_cron(cron)
        now = self._now()
        schedule = {"flow_name": flow_name, "name": name, "id": str(uuid.uuid4()), "cron": parsed.expression,
                    "description": description, "enable": enable, "payload": check_payload(payload),
                    "created": now, "modified": now, "next_fire": parsed.next_after(now)}
        return self.store.put_schedule(schedule, create=True)

    def update(self, flow_name: str, name: str, *, cron: str | None = None, payload: str | None = None,
               description: str | None = None, enable: bool | None = None) -> dict[str, Any]:
        """Change what is given; the next firing is recomputed from now."""
        schedule = self.store.get_schedule(flow_name, name)
        if cron is not None:
            schedule["cron"] = parse_cron(cron).expression
        if description is not None:
            schedule["description"] = description
        if enable is not None:
            schedule["enable"] = enable
        if payload is not None:
            schedule["payload"] = check_payload(payload)
        now = self._now()
        schedule["modified"] = now
        schedule["next_fire"] = parse_cron(schedule["cron"]).next_after(now)
        return self.store.put_schedule(schedule, create=False)

    def describe(self, flow_name: str, name: str) -> dict[str, Any]:
        return self.store.get_schedule(flow_name, name)

    def list(self, flow_name: str) -> list[dict[str, Any]]:  # noqa: A003
        self.store.get_flow(flow_name)
        return self.store.list_schedules(flow_name)

    def delete(self, flow_name: str, name: str) -> None:
        self.store.delete_schedule(flow_name, name)
