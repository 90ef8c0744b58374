"""Small contents' bytes, appended to segment files ``content/segments/{n:08d}``.

A small content (up to INLINE_MAX) is a few KiB; an environment holds tens of
thousands. Stored in SQLite, each byte was written twice (the write-ahead log,
then the database) in page-sized pieces; appended here it is written once, in
one sequential write and one sync per batch, and the database keeps only where
it lies (segment, offset; the size is the content's).

Segments are append-only. Bytes no row points at (content swept, or appended by
a transaction that then rolled back or crashed) are garbage until the sweep
compacts the segment: it copies the live contents to the current segment, points
their rows there, and only then deletes the old file.

Blocking: call from worker threads. Appends are serialized by the registry's
write transaction, and by a lock here as well.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence

ROLL_BYTES = 64 * 1024 * 1024  # a segment takes appends until it is this large
_READ_RUN = 8 * 1024 * 1024  # read_many reads neighbouring pieces together, up to this


class SegmentMissing(Exception):
    """A segment (or a range of it) is gone: compacted away after the reader's
    snapshot was taken. Read the row again."""


class SegmentStore:
    def __init__(self, root: str, roll_bytes: int = ROLL_BYTES) -> None:
        self.root = root
        self.roll_bytes = roll_bytes
        os.makedirs(root, exist_ok=True)
        self._lock = threading.Lock()
        self._fd: int | None = None  # the current segment, opened for appends
        numbers = self.segments()
        self._current = numbers[-1] if numbers else 1

    def path(self, segment: int) -> str:
        return os.path.join(self.root, f"{segment:08d}")

    def segments(self) -> list[int]:
        return sorted(int(name) for name in os.listdir(self.root) if name.isdigit())

    @property
    def current(self) -> int:
        """The segment appends go to (never compacted while it is current)."""
        return self._current

    def size(self, segment: int) -> int:
        try:
            return os.stat(self.path(segment)).st_size
        except FileNotFoundError:
            return 0

    # -- writing ----------------------------------------------------------------

    def append(self, pieces: Sequence[bytes]) -> tuple[int, list[int]]:
        """Appends the pieces in one write and syncs them; returns the segment
        and each piece's offset. The rows that point at them are written after
        this returns: data first, the record that makes it visible last."""
        with self._lock:
            fd = self._open_current()
            start = os.lseek(fd, 0, os.SEEK_END)
            if start >= self.roll_bytes:
                self._roll()
                fd = self._open_current()
                start = 0
            offsets, at = [], start
            for piece in pieces:
                offsets.append(at)
                at += len(piece)
            data = memoryview(b"".join(pieces))
            while data:
                written = os.write(fd, data)
                data = data[written:]
            os.fsync(fd)
            return self._current, offsets

    def _open_current(self) -> int:
        if self._fd is None:
            path = self.path(self._current)
            created = not os.path.exists(path)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if created:
                self._sync_dir()
        return self._fd

    def _roll(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._current = max([self._current, *self.segments()]) + 1

    def _sync_dir(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading ----------------------------------------------------------------

    def read(self, segment: int, offset: int, length: int) -> bytes:
        # Opened for each read (a run of pieces, in read_many): a cached
        # descriptor closed by a compaction could be reused for another file.
        try:
            fd = os.open(self.path(segment), os.O_RDONLY)
        except FileNotFoundError:
            raise SegmentMissing(f"segment {segment} is gone") from None
        try:
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            raise SegmentMissing(f"segment {segment} ends before {offset + length}")
        return data

    def read_many(self, where: Iterable[tuple[int, int, int]]) -> list[bytes]:
        """The bytes at each (segment, offset, length), in the order given; runs
        of neighbouring pieces are read in one call."""
        wanted = list(where)
        order = sorted(range(len(wanted)), key=wanted.__getitem__)
        out: list[bytes] = [b""] * len(wanted)
        i = 0
        while i < len(order):
            segment, start, _ = wanted[order[i]]
            end, j = start, i
            while j < len(order):
                seg, off, length = wanted[order[j]]
                # Adjacent, or the same piece asked twice, and not too long.
                if seg != segment or off > end or off + length - start > _READ_RUN:
                    break
                end = max(end, off + length)
                j += 1
            run = self.read(segment, start, end - start)
            for k in order[i:j]:
                _, off, length = wanted[k]
                out[k] = run[off - start : off - start + length]
            i = j
        return out

    # -- compaction -------------------------------------------------------------

    def remove(self, segment: int) -> None:
        """Deletes a segment no row points at any more."""
        with self._lock:
            if segment == self._current:
                raise ValueError("the current segment takes appends; roll it first")
            try:
                os.unlink(self.path(segment))
            except FileNotFoundError:
                pass

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
