"""Six-field cron (second minute hour day-of-month month day-of-week), as CloudFlow schedules use.

Fields take ``*``, ``?`` (same as ``*``), numbers, ``a-b``, lists ``a,b`` and steps ``*/n`` or
``a-b/n``; months and weekdays also by name (JAN, MON). Day-of-week 0 and 7 are Sunday. As in cron,
when both day fields are restricted a day matching either one fires.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

_NAMES = {
    4: {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m},
    5: {d.upper(): (i + 1) % 7 for i, d in enumerate(calendar.day_abbr)},
}
_RANGES = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
_FIELD_NAMES = ["second", "minute", "hour", "day-of-month", "month", "day-of-week"]


class CronError(ValueError):
    pass


def _value(text: str, index: int) -> int:
    text = text.strip().upper()
    if text in _NAMES.get(index, {}):
        return _NAMES[index][text]
    if not text.isdigit():
        raise CronError(f"{_FIELD_NAMES[index]}: {text!r} is not a number")
    return int(text)


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{_FIELD_NAMES[index]}: bad step {step_text!r}")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, index), _value(b, index)
        else:
            start = _value(part, index)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise CronError(f"{_FIELD_NAMES[index]}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    if index == 5 and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_any: bool
    weekdays_any: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        parts = expression.split()
        if len(parts) != 6:
            raise CronError(f"a cron expression has six fields (second minute hour day month weekday), "
                            f"got {len(parts)} in {expression!r}")
        fields = [_field(p, i) for i, p in enumerate(parts)]
        return cls(expression, *fields, days_any=parts[3] in ("*", "?"), weekdays_any=parts[5] in ("*", "?"))

    def _day_ok(self, day: dt.date) -> bool:
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.days_any and self.weekdays_any:
            return True
        if self.days_any:
            return dow
        if self.weekdays_any:
            return dom
        return dom or dow

    def next_after(self, after: float) -> float | None:
        """The first firing time strictly after ``after`` (UTC epoch seconds), within five years."""
        start = dt.datetime.fromtimestamp(int(after) + 1, dt.UTC)
        day = start.date()
        for _ in range(366 * 5):
            if day.month in self.months and self._day_ok(day):
                first = day == start.date()
                for hour in sorted(self.hours):
                    if first and hour < start.hour:
                        continue
                    for minute in sorted(self.minutes):
                        if first and hour == start.hour and minute < start.minute:
                            continue
                        for second in sorted(self.seconds):
                            moment = dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=dt.UTC)
                            if moment >= start:
                                return moment.timestamp()
            day += dt.timedelta(days=1)
        return None
