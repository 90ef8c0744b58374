"""Giving memory the process has freed back to the system.

glibc keeps what a process frees for its next allocations, so a long-running
server would otherwise keep the high-water mark of every burst: parsing a
large index object (a scale-4 repository's index took 28 MB to load and kept
17 MB of it only as free heap), or an operation's buffers. ``malloc_trim``
returns the free pages. Where there is no glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _find_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_TRIM = _find_trim()


def release() -> None:
    """Returns freed memory to the system (a few milliseconds on a large heap)."""
    if _TRIM is not None:
        _TRIM(0)
