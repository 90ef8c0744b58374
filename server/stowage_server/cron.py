"""Cron expressions: five fields (minute, hour, day of month, month, day of
week) in UTC, with ``*``, lists, ranges, steps, month and weekday names, and
the @hourly, @daily, @weekly, @monthly and @yearly shorthands.

As in Vixie cron, when both day fields are restricted a day matches either
of them ("0 0 1 * MON": the 1st and every Monday); when one of them starts
with ``*``, a day must match both.

UTC, not a local zone: a schedule then never skips or repeats a run at a
daylight-saving change, and every server reads it the same way.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

# How far next/previous searches look; a leap day recurs within this.
_HORIZON_DAYS = 8 * 366
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class CronError(ValueError):
    """The expression is malformed or never matches; the message says why."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, tuple(_MONTHS), 1),
    # 7 is Sunday too, as in every cron.
    _Field("day of week", 0, 7, tuple(_WEEKDAYS), 0),
)


def _number(text: str, f: _Field) -> int:
    lowered = text.lower()
    if lowered in f.names:
        return f.names.index(lowered) + f.name_base
    if not text.isdigit():
        raise CronError(f"{f.name}: {text!r} is not a number")
    value = int(text)
    if not f.low <= value <= f.high:
        raise CronError(f"{f.name}: {value} is outside {f.low}-{f.high}")
    return value


def _parse_field(text: str, f: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{f.name}: empty list item in {text!r}")
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{f.name}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            low, high = f.low, f.high
        elif "-" in base:
            a, _, b = base.partition("-")
            low, high = _number(a, f), _number(b, f)
            if low > high:
                raise CronError(f"{f.name}: range {base!r} runs backwards")
        else:
            low = _number(base, f)
            # "5/15" means from 5 to the end in steps of 15.
            high = f.high if step_text else low
        values.update(range(low, high + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    either_day: bool  # both day fields restricted: a day matches either

    @classmethod
    def parse(cls, text: str) -> Cron:
        expr = " ".join(text.split())
        expanded = _MACROS.get(expr.lower(), expr)
        parts = expanded.split(" ")
        if len(parts) != 5:
            raise CronError(
                "a cron expression has 5 fields: minute hour day-of-month month day-of-week"
            )
        sets = [_parse_field(p, f) for p, f in zip(parts, _FIELDS, strict=True)]
        cron = cls(
            text=expr,
            minutes=tuple(sorted(sets[0])),
            hours=tuple(sorted(sets[1])),
            days=sets[2],
            months=sets[3],
            weekdays=frozenset(d % 7 for d in sets[4]),
            either_day=not parts[2].startswith("*") and not parts[4].startswith("*"),
        )
        if cron.next_after(0.0) is None:
            raise CronError(f"{expr!r} never runs")
        return cron

    def matches_day(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = d.isoweekday() % 7 in self.weekdays
        return (dom or dow) if self.either_day else (dom and dow)

    def _times(self) -> list[int]:
        """The matching minutes of a matching day, as minutes after midnight."""
        return [h * 60 + m for h in self.hours for m in self.minutes]

    def next_after(self, t: float) -> float | None:
        """The first matching minute strictly after ``t`` (seconds since the epoch)."""
        times = self._times()
        start = datetime.fromtimestamp(t, UTC)
        minute_of_day = start.hour * 60 + start.minute
        day = start.date()
        for i in range(_HORIZON_DAYS):
            if self.matches_day(day):
                # On the first day, only minutes after t's minute (t may sit inside it).
                k = bisect.bisect_right(times, minute_of_day) if i == 0 else 0
                if k < len(times):
                    return _at(day, times[k])
            day += timedelta(days=1)
        return None

    def latest_at_or_before(self, t: float) -> float | None:
        """The last matching minute at or before ``t``."""
        times = self._times()
        start = datetime.fromtimestamp(t, UTC)
        minute_of_day = start.hour * 60 + start.minute
        day = start.date()
        for i in range(_HORIZON_DAYS):
            if self.matches_day(day):
                k = bisect.bisect_right(times, minute_of_day) if i == 0 else len(times)
                if k > 0:
                    return _at(day, times[k - 1])
            day -= timedelta(days=1)
        return None

    def gaps(self) -> tuple[float, float]:
        """The shortest and the longest time between two consecutive runs, in
        seconds, over a 28-year span (the calendar's weekday cycle)."""
        return self._gaps

    @functools.cached_property
    def _gaps(self) -> tuple[float, float]:
        times = self._times()
        shortest = longest = None
        for a, b in zip(times, times[1:], strict=False):
            gap = (b - a) * 60
            shortest = gap if shortest is None else min(shortest, gap)
            longest = gap if longest is None else max(longest, gap)
        day = date(2000, 1, 1)
        previous: date | None = None
        for _ in range(28 * 366):
            if self.matches_day(day):
                if previous is not None:
                    gap = ((day - previous).days * 1440 + times[0] - times[-1]) * 60
                    shortest = gap if shortest is None else min(shortest, gap)
                    longest = gap if longest is None else max(longest, gap)
                previous = day
            day += timedelta(days=1)
        span = 28 * 366 * 86400.0
        return float(shortest or span), float(longest or span)


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> Cron:
    """Cron.parse, remembered: the scheduler reads every policy at each look."""
    return Cron.parse(text)


def _at(day: date, minute_of_day: int) -> float:
    h, m = divmod(minute_of_day, 60)
    return datetime(day.year, day.month, day.day, h, m, tzinfo=UTC).timestamp()
