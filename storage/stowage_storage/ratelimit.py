"""A token bucket that caps the bytes per second a backup sends to storage."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    def __init__(self, bytes_per_second: int) -> None:
        self.rate = bytes_per_second
        self._allowance = float(bytes_per_second)
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def consume(self, n: int) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            # At most one second of burst.
            self._allowance = min(self.rate, self._allowance + (now - self._last) * self.rate)
            self._last = now
            self._allowance -= n
            if self._allowance < 0:
                await asyncio.sleep(-self._allowance / self.rate)
