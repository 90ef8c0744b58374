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
from typing import TYPE_CHECKING, NamedTuple

from stowage.v1 import environments_pb2 as env_pb

from .content import INLINE_MAX, chunk_refs
from .database import HeldRead

if TYPE_CHECKING:
    from .registry import ControlNumberRecord, EnvRecord

# Rows fetched per step: a worker-thread call each, a few hundred kB.
PAGE = 2000

_ARTIFACTS = (
    "SELECT a.kind, a.id, a.sha256, a.size, a.item, a.metadata, a.update_time, "
    "c.is_inline, c.chunks, c.chunker "
    "FROM artifacts a LEFT JOIN contents c ON a.size > ? AND c.sha256 = a.sha256 "
    "WHERE a.env_uid = ? ORDER BY a.kind, a.id"
)


class SnapshotArtifact(NamedTuple):
    """An artifact as a backup needs it; content details only for content
    over INLINE_MAX (smaller content is always inline and one blob)."""

    kind: int
    artifact_id: str
    sha256: bytes
    size: int
    item: bytes  # its encoded ManifestItem; empty for artifacts written before items were kept
    metadata_json: str
    update_time: float
    stored_inline: int | None  # None: small, so inline
    chunks: bytes | None  # the packed chunk list of content stored in pieces
    chunker: str | None

    @property
    def is_inline(self) -> bool:
        return self.stored_inline is None or bool(self.stored_inline)

    def blobs(self) -> list[tuple[bytes, int]]:
        """The blobs of its content as the registry cut it: its chunks, or itself whole."""
        if self.chunks:
            return list(chunk_refs(self.chunks))
        return [(self.sha256, self.size)]


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

    def pages(self, page: int | None = None) -> Iterator[list[SnapshotArtifact]]:
        """The artifacts in name order, ``page`` (or PAGE) at a time: each step
        is one fetch, for a worker thread."""
        page = page or PAGE
        with self._lock:
            cursor = self._read.conn.execute(_ARTIFACTS, (INLINE_MAX, self.env.uid))
        try:
            while True:
                with self._lock:
                    rows = cursor.fetchmany(page)
                if not rows:
                    return
                yield [SnapshotArtifact(*r) for r in rows]
        finally:
            # After ``close`` the connection, and the cursor with it, is gone.
            with self._lock, contextlib.suppress(sqlite3.Error):
                cursor.close()

    def artifacts(self) -> Iterator[SnapshotArtifact]:
        """The artifacts one at a time, for a loop inside one worker thread."""
        for page in self.pages():
            yield from page

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
