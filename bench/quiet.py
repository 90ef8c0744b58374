"""Waiting for a quiet machine before a timed phase.

This machine may be shared (other test suites, other benchmarks): a phase
started in the middle of someone else's burst measures them as much as the
tool. Before each phase the runner waits, for a bounded time, until a short
window passes with the machine mostly idle. It cannot keep others away
during the phase; phase.Watch measures how busy they were.
"""

from __future__ import annotations

import time

import psutil

WINDOW = 0.5  # seconds of observation
BUSY_LIMIT = 0.15  # share of all cores
PATIENCE = 30.0  # seconds, then go ahead anyway


def busy_seconds() -> float:
    """CPU seconds the machine spent busy since boot, all cores (steal
    included; guest time is already in user time)."""
    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))


def wait(patience: float = PATIENCE) -> float:
    """Returns when a WINDOW passed with the machine under BUSY_LIMIT, or after
    ``patience`` seconds; gives the busy share of the last window."""
    cores = psutil.cpu_count() or 1
    deadline = time.monotonic() + patience
    while True:
        before = busy_seconds()
        time.sleep(WINDOW)
        share = (busy_seconds() - before) / (WINDOW * cores)
        if share < BUSY_LIMIT or time.monotonic() > deadline:
            return share
