"""A measured phase: how long it took, the peak resident memory and the CPU
time of the process doing the work, and how busy the rest of the machine was
meanwhile (other processes steal time from a 2-core machine, and wall-clock
figures then say more about them than about the tool)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from .quiet import busy_seconds as _busy
from .sampler import PeakSampler


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_rss: int
    cpu_s: float  # user + system time of the measured process
    # Share of the machine's CPU capacity (wall time x cores) that went to
    # processes other than the measured one and this benchmark (kernel
    # threads writing back its files included), and to the hypervisor
    # (steal), while the phase ran.
    others_share: float


def _cpu(proc: psutil.Process) -> float:
    """User and system time of the process itself (not of children it reaped:
    this benchmark reaps restic, whose time is counted apart)."""
    try:
        t = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system


class Watch:
    """``with Watch(pid) as w: work()``; then ``w.result``.

    ``started`` (a perf_counter reading) backdates the start, for a process
    launched just before the watch. ``cpu_s`` may be set inside the block when
    the process ends there and only its exit status knows its CPU time.
    """

    def __init__(self, pid: int, started: float | None = None) -> None:
        self._proc = psutil.Process(pid)
        self._self = psutil.Process()
        self._sampler = PeakSampler(pid)
        self._start = started
        self.cpu_s: float | None = None
        self.result = Timed(0.0, 0, 0.0, 0.0)

    def __enter__(self) -> Watch:
        self._busy0 = _busy()
        self._proc0 = _cpu(self._proc)
        self._self0 = _cpu(self._self)
        self._sampler.__enter__()
        if self._start is None:
            self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._start is not None
        seconds = time.perf_counter() - self._start
        self._sampler.__exit__(*exc)
        if self.cpu_s is None:
            self.cpu_s = _cpu(self._proc) - self._proc0
        own = _cpu(self._self) - self._self0
        busy = _busy() - self._busy0
        capacity = seconds * (psutil.cpu_count() or 1)
        others = max(0.0, busy - self.cpu_s - own) / capacity if capacity else 0.0
        self.result = Timed(seconds, self._sampler.peak, self.cpu_s, others)
