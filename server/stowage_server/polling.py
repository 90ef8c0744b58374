"""The loop both schedulers share (scheduler.py for backups, drill_schedule.py
for drills): look for due slots, start what was claimed, sleep until the next
due time but at most ``poll`` seconds (to see other servers' changes); ``wake()``
makes it look again at once. ``stop()`` cancels the loop and the runs it started
and gives back the ledger claims that never started."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar

from .scheduled_runs import ScheduledRuns

T = TypeVar("T")


class PollingLoop:
    def __init__(
        self, runs: ScheduledRuns, executor: Executor | None, poll: float, log: logging.Logger
    ) -> None:
        self.runs = runs
        self._executor = executor
        self.poll = poll
        self._log = log
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def start(self) -> None:
        self._loop_task = asyncio.ensure_future(self._loop())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self._run(self.runs.release_queued)
        except Exception:
            self._log.exception("could not release queued scheduled runs")

    async def look(self) -> float:
        """Claims and starts what is due; returns the seconds until the next due time."""
        raise NotImplementedError

    def _launch(self, run: Coroutine[Any, Any, None]) -> None:
        """Starts a claimed run; stop() cancels it."""
        task = asyncio.ensure_future(run)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                delay = await self.look()
            except Exception:
                self._log.exception("look for due slots failed")
                delay = self.poll
            await wait_at_most(self._wake.wait(), delay)


async def wait_at_most(aw: Awaitable[object], limit: float) -> None:
    """Waits for ``aw`` at most ``limit`` seconds. Unlike wait_for on Python
    3.11, a cancel that arrives as ``aw`` completes is never swallowed (that
    left stop() waiting forever on a loop that had just been woken)."""
    task = asyncio.ensure_future(aw)
    try:
        await asyncio.wait({task}, timeout=limit)
    finally:
        task.cancel()
