"""Peak resident memory of a process and its children, sampled in a thread."""

from __future__ import annotations

import threading

import psutil

# Short enough to catch a burst of buffers that lives for a few tens of
# milliseconds, long enough to cost the machine nothing.
INTERVAL = 0.01


class PeakSampler:
    """``with PeakSampler(pid) as s: ...``; then ``s.peak`` is the highest RSS
    seen (bytes), the process and its children added up."""

    def __init__(self, pid: int, interval: float = INTERVAL) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())
