"""Retention: which backups a policy's rules keep.

Each rule keeps a set of backups and the policy keeps their union, plus always
the newest backup, so retention can never leave an environment with none:

- keep_last N: the N newest.
- keep_daily N, keep_weekly N, keep_monthly N: the newest backup of each of
  the N most recent days (weeks, months) that have a backup; days are UTC
  calendar days, weeks ISO weeks (Monday first), months calendar months.
  A period without backups does not use up one of the N.
- max_age D: every backup taken at most D before now.

These are restic's `forget --keep-*` rules, which operators already know.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Rules:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    max_age: float = 0.0  # seconds; 0: no age rule

    def keeps_anything(self) -> bool:
        return bool(
            self.keep_last
            or self.keep_daily
            or self.keep_weekly
            or self.keep_monthly
            or self.max_age
        )


def _day(t: float) -> tuple[int, ...]:
    d = datetime.fromtimestamp(t, UTC)
    return (d.year, d.month, d.day)


def _week(t: float) -> tuple[int, ...]:
    iso = datetime.fromtimestamp(t, UTC).isocalendar()
    return (iso.year, iso.week)


def _month(t: float) -> tuple[int, ...]:
    d = datetime.fromtimestamp(t, UTC)
    return (d.year, d.month)


def select(backups: Sequence[tuple[K, float]], rules: Rules, now: float) -> set[K]:
    """The keys of the backups to keep, from (key, snapshot time) pairs."""
    newest_first = sorted(backups, key=lambda b: b[1], reverse=True)
    keep: set[K] = set()
    if not newest_first:
        return keep
    keep.add(newest_first[0][0])
    keep.update(k for k, _ in newest_first[: rules.keep_last])
    buckets: list[tuple[int, Callable[[float], tuple[int, ...]]]] = [
        (rules.keep_daily, _day),
        (rules.keep_weekly, _week),
        (rules.keep_monthly, _month),
    ]
    for count, period in buckets:
        seen: set[tuple[int, ...]] = set()
        for key, t in newest_first:
            if len(seen) >= count:
                break
            p = period(t)
            if p not in seen:
                seen.add(p)
                keep.add(key)  # the newest of its period: backups come newest first
    if rules.max_age:
        keep.update(k for k, t in newest_first if now - t <= rules.max_age)
    return keep
