"""A backup's snapshot of an environment: one read transaction held open for
the whole backup (R2), with the artifacts read page by page.

The header (environment, settings, control numbers, AS2 messages, batches,
hybrid connections, counts) is small and read at once. Artifacts are streamed
from the same transaction, once to store what the repository lacks and once
to write the manifest, so a backup's memory does not grow with the number of
artifacts an environment holds.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stowage.v1 import environments_pb2 as env_pb

from .content import INLINE_MAX, chunk_refs
from .database import HeldRead

if TYPE_CHECKING:
    from .registry import ControlNumberRecord, EnvRecord

# Rows fetched per step: a worker-thread call each, a few hundred kB. A step
# ends sooner once its chunk lists reach _PAGE_BYTES: a large artifact's list
# takes 36 bytes per 16 KiB of content, and pages of assemblies took megabytes.
PAGE = 2000
_PAGE_BYTES = 1 << 20
_FETCH = 250

# Content up to INLINE_MAX is always inline and one blob; larger content is a
# file, cut into chunks when over the chunk threshold. Chunk lists are looked
# up only for the larger content, and items only encoded for artifacts
# written before they were kept.
_CONTENTS = (
    "SELECT a.sha256, a.size, CASE WHEN a.size > ?1 THEN "
    "(SELECT c.chunks FROM contents c WHERE c.sha256 = a.sha256) END "
    "FROM artifacts a WHERE a.env_uid = ?2 ORDER BY a.kind, a.id"
)
_ITEMS = (
    "SELECT a.item, a.sha256, a.size, a.kind, a.id, a.metadata, a.update_time, "
    "CASE WHEN a.item = x'' AND a.size > ?1 THEN "
    "(SELECT c.chunks FROM contents c WHERE c.sha256 = a.sha256) END "
    "FROM artifacts a WHERE a.env_uid = ?2 ORDER BY a.kind, a.id"
)

# An artifact's content: digest, size, and the packed chunk list of content
# stored in pieces (else None).
ContentRow = tuple[bytes, int, bytes | None]
# An artifact's encoded ManifestItem (empty for artifacts written before items
# were kept), then what encoding one needs: digest, size, kind, id, metadata
# (JSON), update time, and the chunk list (only when the item is empty).
ItemRow = tuple[bytes, bytes, int, int, str, str, float, bytes | None]


def content_blobs(row: ContentRow) -> Iterator[tuple[bytes, int]]:
    """The blobs of an artifact's content as the registry cut it: its chunks,
    or itself whole."""
    sha256, size, chunks = row
    if chunks:
        return chunk_refs(chunks)
    return iter(((sha256, size),))


@dataclass
class HeldSnapshot:
    """Everything a backup holds, as of one instant; ``close`` ends it. Its
    methods block and may be called from any worker thread."""

    env: EnvRecord
    settings: env_pb.EnvironmentSettings
    control_numbers: list[ControlNumberRecord]
    as2_messages: list[tuple[str, str, float]]
    batches: dict[str, list[str]]  # batch -> active message ids
    hybrid_connections: list[tuple[str, str]]
    artifact_count: int
    total_bytes: int
    time: float
    _read: HeldRead
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def contents(self, page: int | None = None) -> Iterator[list[ContentRow]]:
        """Every artifact's content in name order, ``page`` (or PAGE) rows at a
        time: each step is one fetch, for a worker thread."""
        return self._pages(_CONTENTS, page or PAGE, (2,))

    def items(self) -> Iterator[ItemRow]:
        """Every artifact's manifest item in name order, a row at a time, for a
        loop inside one worker thread."""
        for page in self._pages(_ITEMS, PAGE, (0, 7)):
            yield from page

    def _pages(self, query: str, page: int, weighed: tuple[int, ...]) -> Iterator[list[Any]]:
        """Pages of at most ``page`` rows, ended early once the bytes in the
        ``weighed`` columns pass _PAGE_BYTES."""
        with self._lock:
            cursor = self._read.conn.execute(query, (INLINE_MAX, self.env.uid))
        try:
            while True:
                rows: list[Any] = []
                weight = 0
                while len(rows) < page and weight < _PAGE_BYTES:
                    with self._lock:
                        part = cursor.fetchmany(min(_FETCH, page - len(rows)))
                    if not part:
                        break
                    rows += part
                    for c in weighed:
                        weight += sum(len(r[c]) for r in part if r[c])
                if not rows:
                    return
                yield rows
                if weight < _PAGE_BYTES and len(rows) < page:
                    return
        finally:
            # After ``close`` the connection, and the cursor with it, is gone.
            with self._lock, contextlib.suppress(sqlite3.Error):
                cursor.close()

    def stale_contents(self, chunker: str, threshold: int) -> list[tuple[bytes, int]]:
        """Content over ``threshold`` cut with other chunker parameters than
        ``chunker`` (the repository's): digest and size of each."""
        with self._lock:
            return self._read.conn.execute(
                "SELECT DISTINCT c.sha256, c.size FROM artifacts a JOIN contents c ON c.sha256 = a.sha256 "
                "WHERE a.env_uid = ? AND a.size > ? AND c.size > ? AND c.chunker != ?",
                (self.env.uid, INLINE_MAX, threshold, chunker),
            ).fetchall()

    def close(self) -> None:
        # Waits for a fetch a cancelled backup left running in a worker thread.
        with self._lock:
            self._read.close()
