"""Retention rules over a simulated year of backups, against a plain reference."""

from __future__ import annotations

import datetime
import random
import time

from stowage_server.retention import Rules, select

DAY = 86400.0


def _reference(times: list[float], rules: Rules, now: float) -> set[float]:
    """Obviously correct, if slow: for each rule, the periods it keeps, and the
    newest backup in each."""
    keep = {max(times)}
    keep.update(sorted(times, reverse=True)[: rules.keep_last])

    def day(t: float) -> tuple[int, ...]:
        return tuple(time.gmtime(t)[:3])

    def week(t: float) -> tuple[int, ...]:
        g = time.gmtime(t)
        return tuple(datetime.date(g.tm_year, g.tm_mon, g.tm_mday).isocalendar()[:2])

    def month(t: float) -> tuple[int, ...]:
        return tuple(time.gmtime(t)[:2])

    for count, period in (
        (rules.keep_daily, day),
        (rules.keep_weekly, week),
        (rules.keep_monthly, month),
    ):
        for p in sorted({period(t) for t in times}, reverse=True)[:count]:
            keep.add(max(t for t in times if period(t) == p))
    if rules.max_age:
        keep.update(t for t in times if now - t <= rules.max_age)
    return keep


def _year_of_backups(rng: random.Random, start: float) -> list[float]:
    """Irregular backups: bursts, quiet days and whole quiet weeks."""
    times, t = [], start
    while t < start + 365 * DAY:
        t += rng.choice(
            [rng.uniform(60, 3 * 3600), rng.uniform(0.5, 2) * DAY, rng.uniform(6, 20) * DAY]
        )
        times.append(round(t, 3))
    return times


def test_rules_keep_what_the_reference_keeps_over_a_year() -> None:
    rng = random.Random(20261125)
    for _ in range(60):
        times = _year_of_backups(rng, 1_767_225_600 + rng.uniform(-40, 40) * DAY)
        rules = Rules(
            keep_last=rng.choice([0, 1, 3, 10]),
            keep_daily=rng.choice([0, 1, 7, 30]),
            keep_weekly=rng.choice([0, 4, 12]),
            keep_monthly=rng.choice([0, 3, 12, 24]),
            max_age=rng.choice([0.0, 2 * DAY, 30 * DAY]),
        )
        now = max(times) + rng.uniform(0, 3 * DAY)
        keys = [(f"b{i}", t) for i, t in enumerate(times)]
        by_key = dict(keys)
        rng.shuffle(keys)
        kept = {by_key[k] for k in select(keys, rules, now)}
        assert kept == _reference(times, rules, now), rules


def test_the_newest_backup_is_always_kept() -> None:
    backups = [("old", 1000.0), ("new", 2000.0)]
    assert select(backups, Rules(max_age=10), now=10**9) == {"new"}
    assert select([], Rules(keep_last=3), now=0) == set()
