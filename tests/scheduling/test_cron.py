"""Cron expressions: parsing, and next/previous run times against a plain
minute-by-minute search."""

from __future__ import annotations

import random
import time
from dataclasses import replace

import pytest

from stowage_server.cron import Cron, CronError

DAY = 86400


def test_fields_lists_ranges_steps_and_names() -> None:
    c = Cron.parse("*/15 9-17/4 1,15 jan-mar MON-FRI")
    assert c.minutes == (0, 15, 30, 45)
    assert c.hours == (9, 13, 17)
    assert c.days == {1, 15}
    assert c.months == {1, 2, 3}
    assert c.weekdays == {1, 2, 3, 4, 5}
    assert c.either_day
    assert Cron.parse("5/20 0 * * 7").minutes == (5, 25, 45)
    assert Cron.parse("0 0 * * 7").weekdays == {0}  # 7 is Sunday
    assert replace(Cron.parse("@daily"), text="") == replace(Cron.parse("0 0 * * *"), text="")
    assert Cron.parse("@hourly").minutes == (0,)


@pytest.mark.parametrize(
    "expr",
    [
        "61 * * * *",
        "* * * *",
        "* * * * * *",
        "*/0 * * * *",
        "5-1 * * * *",
        "x * * * *",
        "0 0 30 2 *",
        "0 0 31 4 *",
        "1,,2 * * * *",
    ],
)
def test_malformed_or_never_matching_expressions_are_refused(expr: str) -> None:
    with pytest.raises(CronError):
        Cron.parse(expr)


def _matches(c: Cron, t: float) -> bool:
    """Plainly: does this minute match every field (Vixie's day rule)?"""
    g = time.gmtime(t)
    weekday = (g.tm_wday + 1) % 7  # gmtime: Monday is 0; cron: Sunday is 0
    dom, dow = g.tm_mday in c.days, weekday in c.weekdays
    day = (dom or dow) if c.either_day else (dom and dow)
    return g.tm_min in c.minutes and g.tm_hour in c.hours and g.tm_mon in c.months and day


@pytest.mark.parametrize(
    "expr",
    [
        "*/7 * * * *",
        "30 2 * * *",
        "0 9-17 * * 1-5",
        "0 0 1 * 1",
        "15 3 */2 * *",
        "0 12 13 * fri",
        "45 23 28-31 * *",
        "0 0 * feb,aug sun",
    ],
)
def test_next_and_latest_agree_with_a_minute_by_minute_search(expr: str) -> None:
    c = Cron.parse(expr)
    rng = random.Random(expr)
    for _ in range(6):
        t = 1_750_000_000 + rng.uniform(0, 3 * 365 * DAY)
        m = (int(t) // 60 + 1) * 60
        while not _matches(c, m):
            m += 60
        assert c.next_after(t) == m
        m = int(t) // 60 * 60
        while not _matches(c, m):
            m -= 60
        assert c.latest_at_or_before(t) == m
        assert c.next_after(m) > m and c.latest_at_or_before(m) == m


def test_gaps_between_runs() -> None:
    assert Cron.parse("*/15 * * * *").gaps() == (900, 900)
    assert Cron.parse("0 2 * * *").gaps() == (DAY, DAY)
    assert Cron.parse("0 9 * * 1-5").gaps() == (DAY, 3 * DAY)
    assert Cron.parse("0 0,12 * * *").gaps() == (12 * 3600, 12 * 3600)
    assert Cron.parse("0 0 29 2 *").gaps()[1] == 1461 * DAY
