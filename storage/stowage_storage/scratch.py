"""Scratch files: what a process would otherwise hold in memory, appended to a
temporary file with no name and read back by position. The index keeps its
entries in one, a restore its manifest's items and its read order, so memory
does not grow with the repository or the environment; the file costs page
cache, which the system takes back when it needs it. Having no name, it goes
when it is closed or collected, and with the process, whatever happens.
Blocking. Appends come from one thread at a time; reads of what was appended
may come from any thread meanwhile.
"""

from __future__ import annotations

import os
import tempfile


class ScratchFile:
    def __init__(self, directory: str | None = None) -> None:
        # (None: the system's temporary directory)
        self._file = tempfile.TemporaryFile(dir=directory, buffering=0)
        self._fd = self._file.fileno()
        self.size = 0

    def append(self, data: bytes | bytearray | memoryview) -> None:
        with memoryview(data) as view:
            done = 0
            while done < len(view):
                done += os.pwrite(self._fd, view[done:], self.size + done)
        self.size += done

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (fewer at the end)."""
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        self._file.close()
