"""The registry: the integration environments Stowage protects.

A real platform holds this state itself; here SQLite (database.py) holds the
metadata and small values, ContentStore the large artifact content. Methods are
blocking and run on the worker pool. Every method that changes an environment
runs in one write transaction; ``snapshot`` reads in one read transaction.
"""

from __future__ import annotations

import itertools
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from stowage.v1 import environments_pb2 as env_pb
from stowage_storage.index import DigestSet

from . import names
from . import settings as settings_mod
from .clock import Clock, rfc3339
from .content import INLINE_MAX, ContentStore, StagedContent, decode_chunks, encode_chunks
from .database import Database
from .errors import (
    AlreadyExists,
    ConcurrentChange,
    FailedPrecondition,
    Unavailable,
    artifact_not_found,
    environment_not_found,
    object_not_found,
)
from .manifest import ArtifactRow, encode_item
from .segments import SegmentMissing
from .settings import SecretBox
from .snapshot import HeldSnapshot

FTP_FOLDER = "source-ftp-folder"
T = TypeVar("T")
ACTIVE = env_pb.Environment.STATE_ACTIVE
SUSPENDED = env_pb.Environment.STATE_SUSPENDED


@dataclass(frozen=True)
class EnvRecord:
    uid: str
    name: str
    edition: int
    region: str
    state: int
    settings: bytes  # stored form: secrets sealed
    create_time: float
    update_time: float
    restored_from: str
    quiesced_by: str
    artifact_count: int = 0
    artifact_bytes: int = 0


@dataclass(frozen=True)
class ArtifactRecord:
    environment: str
    kind: int
    artifact_id: str
    sha256: bytes
    size: int
    metadata: dict[str, str]
    update_time: float

    @property
    def name(self) -> str:
        return names.artifact_name(self.environment, self.kind, self.artifact_id)


class ContentInfo(NamedTuple):
    sha256: bytes
    size: int
    is_inline: bool  # in the database rather than a content file
    chunks: list | None  # list[Chunk] when stored in pieces
    chunker: str
    inline: bytes | None = None  # the inline bytes, when loaded


@dataclass(frozen=True)
class ControlNumberRecord:
    agreement: str
    interchange: int
    group: int
    transaction_set: int
    update_time: float


class SnapshotItem(NamedTuple):
    """An artifact as a backup needs it: its encoded ManifestItem is ready."""

    kind: int
    artifact_id: str
    sha256: bytes
    size: int
    item: bytes  # empty for artifacts written before items were kept
    metadata_json: str
    update_time: float


@dataclass
class Snapshot:
    """Everything a backup holds, read in one transaction (R2)."""

    env: EnvRecord
    artifacts: list[SnapshotItem]
    contents: dict[bytes, ContentInfo]
    control_numbers: list[ControlNumberRecord]
    as2_messages: list[tuple[str, str, float]]
    batches: dict[str, list[str]]  # batch -> active message ids
    hybrid_connections: list[tuple[str, str]]
    # Opened in the snapshot's transaction: a key rotation that seals the
    # registry again while the backup runs cannot leave it unreadable.
    settings: env_pb.EnvironmentSettings
    time: float = 0.0
    chunker: str = ""

    def info(self, a: SnapshotItem) -> ContentInfo:
        """The content of an artifact; small content is inline and one blob."""
        found = self.contents.get(a.sha256)
        if found is not None:
            return found
        return ContentInfo(a.sha256, a.size, True, None, self.chunker)


@dataclass
class RestorePlanData:
    """What restore writes, prepared outside the transaction."""

    env_id: str
    edition: int
    region: str
    settings_plain: env_pb.EnvironmentSettings
    restored_from: str
    # Consumed once, by the insert (see manifest.artifact_rows).
    artifacts: Iterable[ArtifactRow]
    contents: list[StagedContent]
    control_numbers: list[ControlNumberRecord]
    as2_messages: list[tuple[str, str, float]]
    release_period: float
    batches: list[str] = field(default_factory=list)
    # More rows to write in the creating transaction, given the new uid.
    extra_writes: list[Callable[[sqlite3.Connection, str], None]] = field(default_factory=list)


@dataclass
class RestoreIntoData:
    """What a restore into an existing environment writes (chosen artifacts)."""

    env_id: str
    env_uid: str  # the environment the plan checked; another one of that name is refused
    # Consumed once, by the insert (see manifest.artifact_rows).
    artifacts: Iterable[ArtifactRow]
    contents: list[StagedContent]
    control_numbers: list[ControlNumberRecord]
    extra_writes: list[Callable[[sqlite3.Connection, str], None]] = field(default_factory=list)


# Every table of per-environment rows, keyed by env_uid.
_ENV_TABLES = (
    "artifacts",
    "control_numbers",
    "as2_messages",
    "batches",
    "batch_messages",
    "hybrid_connections",
    "checklist_items",
    "backup_policies",
)

_ENV_COLUMNS = "uid, name, edition, region, state, settings, create_time, update_time, restored_from, quiesced_by"


def _env(row: tuple, counts: tuple[int, int] = (0, 0)) -> EnvRecord:
    return EnvRecord(*row, artifact_count=counts[0], artifact_bytes=counts[1])


class Registry:
    def __init__(self, db: Database, content: ContentStore, box: SecretBox, clock: Clock) -> None:
        self.db = db
        self.content = content
        self.box = box
        self.clock = clock

    # -- environments ---------------------------------------------------------

    def _live(self, conn: sqlite3.Connection, env_id: str) -> EnvRecord:
        row = conn.execute(
            f"SELECT {_ENV_COLUMNS} FROM environments WHERE name = ? AND deleted_time IS NULL",
            (env_id,),
        ).fetchone()
        if row is None:
            raise environment_not_found(names.environment_name(env_id))
        return _env(row)

    def _writable(self, conn: sqlite3.Connection, env_id: str) -> EnvRecord:
        env = self._live(conn, env_id)
        if env.quiesced_by:
            raise Unavailable(
                "ENVIRONMENT_QUIESCED",
                f"environment {env_id} is quiesced by a running backup; retry when it ends",
                {"operation": f"operations/{env.quiesced_by}"},
            )
        return env

    def name_available_time(
        self, conn: sqlite3.Connection, env_id: str, period: float
    ) -> float | None:
        """When a deleted environment's name frees up; None when it is free now."""
        row = conn.execute(
            "SELECT MAX(deleted_time) FROM environments WHERE name = ? AND deleted_time IS NOT NULL",
            (env_id,),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        free_at = float(row[0]) + period
        return free_at if free_at > self.clock.now() else None

    def check_name_free(self, conn: sqlite3.Connection, env_id: str, period: float) -> None:
        live = conn.execute(
            "SELECT 1 FROM environments WHERE name = ? AND deleted_time IS NULL", (env_id,)
        ).fetchone()
        if live:
            raise AlreadyExists(
                "ENVIRONMENT_EXISTS",
                f"environment {env_id} already exists",
                {"environment": names.environment_name(env_id)},
            )
        free_at = self.name_available_time(conn, env_id, period)
        if free_at is not None:
            raise FailedPrecondition(
                "NAME_NOT_AVAILABLE",
                f"the name {env_id} belonged to a deleted environment and frees up at {rfc3339(free_at)}",
                metadata={
                    "environment": names.environment_name(env_id),
                    "available_time": rfc3339(free_at),
                },
            )

    def provision(
        self,
        env_id: str,
        edition: int,
        region: str,
        plain: env_pb.EnvironmentSettings,
        request_id: str,
        release_period: float,
        validate_only: bool = False,
    ) -> EnvRecord:
        with self.db.write() as conn:
            if request_id:
                row = conn.execute(
                    f"SELECT {_ENV_COLUMNS} FROM environments WHERE request_id = ? AND name = ? "
                    "AND deleted_time IS NULL",
                    (request_id, env_id),
                ).fetchone()
                if row is not None:
                    return _env(row)
            self.check_name_free(conn, env_id, release_period)
            uid = secrets.token_hex(16)
            now = self.clock.now()
            if not plain.scale_units:
                plain.scale_units = 1
            stored = settings_mod.seal_all(self.box, uid, plain)
            record = EnvRecord(uid, env_id, edition, region, ACTIVE, stored, now, now, "", "")
            if validate_only:
                return record
            conn.execute(
                "INSERT INTO environments (uid, name, edition, region, state, settings, create_time, "
                "update_time, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (uid, env_id, edition, region, ACTIVE, stored, now, now, request_id),
            )
            return record

    def record(self, env_id: str) -> EnvRecord:
        """The live environment, without its artifact count and size (see get)."""
        with self.db.read() as conn:
            return self._live(conn, env_id)

    def get(self, env_id: str) -> EnvRecord:
        with self.db.read() as conn:
            env = self._live(conn, env_id)
            count, total = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM artifacts WHERE env_uid = ?",
                (env.uid,),
            ).fetchone()
            return _env(
                (
                    env.uid,
                    env.name,
                    env.edition,
                    env.region,
                    env.state,
                    env.settings,
                    env.create_time,
                    env.update_time,
                    env.restored_from,
                    env.quiesced_by,
                ),
                (count, total),
            )

    def list(self, after: str, limit: int) -> list[EnvRecord]:
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {', '.join('e.' + c.strip() for c in _ENV_COLUMNS.split(','))}, "
                "COUNT(a.id), COALESCE(SUM(a.size), 0) FROM environments e "
                "LEFT JOIN artifacts a ON a.env_uid = e.uid "
                "WHERE e.deleted_time IS NULL AND e.name > ? AND e.name NOT GLOB ? "
                "GROUP BY e.uid ORDER BY e.name LIMIT ?",
                (after, names.SANDBOX_GLOB, limit),
            ).fetchall()
        return [_env(r[:10], (r[10], r[11])) for r in rows]

    def live_names(self) -> list[str]:
        with self.db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM environments WHERE deleted_time IS NULL "
                    "AND name NOT GLOB ? ORDER BY name",
                    (names.SANDBOX_GLOB,),
                )
            ]

    def update(
        self,
        env_id: str,
        edition: int | None,
        region: str | None,
        new_settings: env_pb.EnvironmentSettings | None,
        setting_fields: set[str],
    ) -> EnvRecord:
        with self.db.write() as conn:
            env = self._writable(conn, env_id)
            stored = env.settings
            if setting_fields:
                current = settings_mod.open_all(self.box, env.uid, env.settings, reveal=True)
                merged = settings_mod.apply_mask(
                    current, new_settings or env_pb.EnvironmentSettings(), setting_fields
                )
                if not merged.scale_units:
                    merged.scale_units = current.scale_units or 1
                stored = settings_mod.seal_all(self.box, env.uid, merged)
            now = self.clock.now()
            conn.execute(
                "UPDATE environments SET edition = ?, region = ?, settings = ?, update_time = ? WHERE uid = ?",
                (
                    env.edition if edition is None else edition,
                    env.region if region is None else region,
                    stored,
                    now,
                    env.uid,
                ),
            )
        return self.get(env_id)

    def delete(self, env_id: str) -> EnvRecord:
        with self.db.write() as conn:
            env = self._writable(conn, env_id)
            now = self.clock.now()
            conn.execute(
                "UPDATE environments SET deleted_time = ?, update_time = ? WHERE uid = ?",
                (now, now, env.uid),
            )
            for table in (
                "artifacts",
                "control_numbers",
                "as2_messages",
                "batches",
                "batch_messages",
                "hybrid_connections",
                "checklist_items",
            ):
                conn.execute(f"DELETE FROM {table} WHERE env_uid = ?", (env.uid,))
            return env

    def purge_sandbox(self, env_id: str) -> bool:
        """Deletes a drill's sandbox without a trace: no release period holds its
        name. Returns False when it was not there."""
        if not names.is_sandbox(env_id):
            raise ValueError(f"{env_id} is not a sandbox")
        with self.db.write() as conn:
            uids = [
                r[0] for r in conn.execute("SELECT uid FROM environments WHERE name = ?", (env_id,))
            ]
            for uid in uids:
                for table in _ENV_TABLES:
                    conn.execute(f"DELETE FROM {table} WHERE env_uid = ?", (uid,))
                conn.execute("DELETE FROM environments WHERE uid = ?", (uid,))
            return bool(uids)

    def sandboxes(self) -> list[str]:
        with self.db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT name FROM environments WHERE name GLOB ?",
                    (names.SANDBOX_GLOB,),
                )
            ]

    def set_state(self, env_id: str, allowed_from: tuple[int, ...], to: int) -> EnvRecord:
        with self.db.write() as conn:
            env = self._live(conn, env_id)
            if env.state == to:
                pass
            elif env.state not in allowed_from:
                state = env_pb.Environment.State.Name(env.state)
                raise FailedPrecondition(
                    "INVALID_STATE",
                    f"environment {env_id} is {state}",
                    metadata={"state": state, "environment": names.environment_name(env_id)},
                )
            conn.execute(
                "UPDATE environments SET state = ?, update_time = ? WHERE uid = ?",
                (to, self.clock.now(), env.uid),
            )
        return self.get(env_id)

    def ftp_folder_users(
        self, exclude_env: str = "", active_only: bool = False
    ) -> dict[str, list[tuple[str, str]]]:
        """Source FTP folders of live agreements: folder -> [(environment, agreement)]."""
        out: dict[str, list[tuple[str, str]]] = {}
        query = (
            "SELECT e.name, a.id, a.metadata FROM artifacts a JOIN environments e ON e.uid = a.env_uid "
            "WHERE e.deleted_time IS NULL AND a.kind = ? AND e.name != ? AND e.name NOT GLOB ?"
        )
        args: list = [env_pb.ARTIFACT_KIND_AGREEMENT, exclude_env, names.SANDBOX_GLOB]
        if active_only:
            query += " AND e.state = ?"
            args.append(ACTIVE)
        with self.db.read() as conn:
            for env_name, agreement, metadata in conn.execute(query, args):
                folder = json.loads(metadata).get(FTP_FOLDER)
                if folder:
                    out.setdefault(folder, []).append((env_name, agreement))
        return out

    def agreement_folders(self, env_id: str) -> list[tuple[str, str]]:
        """(agreement, source FTP folder) of an environment's agreements that pull one."""
        out = []
        for a in self.list_artifacts(env_id, env_pb.ARTIFACT_KIND_AGREEMENT, (0, ""), 1_000_000):
            folder = a.metadata.get(FTP_FOLDER)
            if folder:
                out.append((a.artifact_id, folder))
        return out

    def set_quiesce(self, env_uid: str, op_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE environments SET quiesced_by = ? WHERE uid = ?", (op_id, env_uid))

    def clear_stale_quiesce(self) -> None:
        """Lifts quiesces left by backups that ended without lifting them (a crash)."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE environments SET quiesced_by = '' WHERE quiesced_by != '' AND quiesced_by NOT IN "
                "(SELECT id FROM operations WHERE state IN (1, 2))"
            )

    def settings_plain(self, env: EnvRecord) -> env_pb.EnvironmentSettings:
        return settings_mod.open_all(self.box, env.uid, env.settings, reveal=True)

    # -- artifacts ------------------------------------------------------------

    def add_content(self, staged: StagedContent) -> bool:
        """Makes uploaded content available without an artifact; returns True
        when it was already there. Its age restarts, for the upload grace."""
        with self.db.write() as conn:
            known = conn.execute(
                "SELECT 1 FROM contents WHERE sha256 = ?", (staged.sha256,)
            ).fetchone()
            self._install_all(conn, [staged])
            conn.execute(
                "UPDATE contents SET create_time = ? WHERE sha256 = ?",
                (self.clock.now(), staged.sha256),
            )
            return known is not None

    def known_contents(self, digests: Iterable[bytes]) -> DigestSet:
        """Which of the digests the registry holds content for."""
        known = DigestSet()
        with self.db.read() as conn:
            for digest in _present(conn, digests):
                known.add(digest)
        return known

    def _install_all(self, conn: sqlite3.Connection, staged: list[StagedContent]) -> None:
        """Makes contents available; idempotent. Runs inside a write transaction.
        Small contents the registry lacks go to a segment in one append; files
        are moved into place one by one."""
        known = set(_present(conn, (s.sha256 for s in staged)))
        fresh: dict[bytes, StagedContent] = {}
        for s in staged:
            if s.sha256 not in known:
                if fresh.setdefault(s.sha256, s) is not s:
                    self.content.discard(s)  # a second copy in the same batch
            elif s.tmp_path is not None:
                # Known content: the file is already in place (or being re-staged by a restore).
                self.content.install(s)
        small = [s for s in fresh.values() if s.inline is not None]
        where: list[tuple[int | None, int | None]] = [(None, None)] * len(small)
        if small:
            # The bytes are synced in their segment before the rows that point
            # at them are written: data first, the record that makes it visible last.
            segment, offsets = self.content.segments.append([s.inline for s in small])  # type: ignore[misc]
            where = [(segment, offset) for offset in offsets]
        now = self.clock.now()
        conn.executemany(
            "INSERT INTO contents (sha256, size, is_inline, chunks, chunker, create_time, "
            "segment, seg_offset) VALUES (?, ?, 1, NULL, ?, ?, ?, ?)",
            [
                (s.sha256, s.size, self.content.chunker_id, now, seg, off)
                for s, (seg, off) in zip(small, where, strict=True)
            ],
        )
        for s in fresh.values():
            if s.inline is None:
                self.content.install(s)
                conn.execute(
                    "INSERT INTO contents (sha256, size, is_inline, chunks, chunker, create_time) "
                    "VALUES (?, ?, 0, ?, ?, ?)",
                    (s.sha256, s.size, encode_chunks(s.chunks), self.content.chunker_id, now),
                )

    def put_artifact_ref(
        self,
        env_id: str,
        kind: int,
        artifact_id: str,
        sha256: bytes,
        size: int,
        metadata: dict[str, str],
    ) -> ArtifactRecord:
        """An artifact whose content was uploaded before (BlobService.WriteBlob)."""
        with self.db.write() as conn:
            env = self._writable(conn, env_id)
            row = conn.execute(
                "SELECT size, chunks FROM contents WHERE sha256 = ?", (sha256,)
            ).fetchone()
            if row is None or (size and row[0] != size):
                err = object_not_found(f"blobs/sha256/{sha256.hex()}")
                err.message = (
                    f"no uploaded content {sha256.hex()}"
                    + (f" of {size} bytes" if size and row is not None else "")
                    + "; upload it with BlobService.WriteBlob, or send the content"
                )
                err.args = (err.message,)
                raise err
            now = self.clock.now()
            item = encode_item(
                kind, artifact_id, sha256, row[0], metadata, decode_chunks(row[1]), now
            )
            conn.execute(
                "INSERT OR REPLACE INTO artifacts (env_uid, kind, id, sha256, size, metadata, update_time, item) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    env.uid,
                    kind,
                    artifact_id,
                    sha256,
                    row[0],
                    _metadata_json(metadata),
                    now,
                    item,
                ),
            )
            return ArtifactRecord(env_id, kind, artifact_id, sha256, row[0], metadata, now)

    def put_artifacts(
        self,
        env_id: str,
        items: list[tuple[int, str, StagedContent, dict[str, str]]],
    ) -> list[ArtifactRecord]:
        with self.db.write() as conn:
            env = self._writable(conn, env_id)
            now = self.clock.now()
            out = []
            rows = []
            self._install_all(conn, [staged for _, _, staged, _ in items])
            for kind, artifact_id, staged, metadata in items:
                item = encode_item(
                    kind, artifact_id, staged.sha256, staged.size, metadata, staged.chunks, now
                )
                rows.append(
                    (
                        env.uid,
                        kind,
                        artifact_id,
                        staged.sha256,
                        staged.size,
                        _metadata_json(metadata),
                        now,
                        item,
                    )
                )
                out.append(
                    ArtifactRecord(
                        env_id, kind, artifact_id, staged.sha256, staged.size, metadata, now
                    )
                )
            conn.executemany(
                "INSERT OR REPLACE INTO artifacts (env_uid, kind, id, sha256, size, metadata, update_time, item) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return out

    def get_artifact(
        self, env_id: str, kind: int, artifact_id: str
    ) -> tuple[ArtifactRecord, ContentInfo]:
        return _moved_once(lambda: self._get_artifact(env_id, kind, artifact_id))

    def _get_artifact(
        self, env_id: str, kind: int, artifact_id: str
    ) -> tuple[ArtifactRecord, ContentInfo]:
        with self.db.read() as conn:
            env = self._live(conn, env_id)
            row = conn.execute(
                "SELECT sha256, size, metadata, update_time FROM artifacts WHERE env_uid = ? AND kind = ? AND id = ?",
                (env.uid, kind, artifact_id),
            ).fetchone()
            if row is None:
                raise artifact_not_found(names.artifact_name(env_id, kind, artifact_id))
            info = self._content_info(conn, row[0])
        return ArtifactRecord(
            env_id, kind, artifact_id, row[0], row[1], json.loads(row[2]), row[3]
        ), info

    def _content_info(self, conn: sqlite3.Connection, sha256: bytes) -> ContentInfo:
        row = conn.execute(
            "SELECT c.size, c.is_inline, c.chunks, c.chunker, b.data, c.segment, c.seg_offset "
            "FROM contents c LEFT JOIN content_bytes b ON b.sha256 = c.sha256 WHERE c.sha256 = ?",
            (sha256,),
        ).fetchone()
        if row is None:
            raise ConcurrentChange(f"content {sha256.hex()} vanished")
        size, is_inline, chunks, chunker, data, segment, offset = row
        if segment is not None:
            data = self.content.segments.read(segment, offset, size)
        return ContentInfo(sha256, size, bool(is_inline), decode_chunks(chunks), chunker, data)

    def list_artifacts(
        self, env_id: str, kind: int, after: tuple[int, str], limit: int
    ) -> list[ArtifactRecord]:
        with self.db.read() as conn:
            env = self._live(conn, env_id)
            query = (
                "SELECT kind, id, sha256, size, metadata, update_time FROM artifacts WHERE env_uid = ? "
                "AND (kind > ? OR (kind = ? AND id > ?))"
            )
            args: list = [env.uid, after[0], after[0], after[1]]
            if kind:
                query += " AND kind = ?"
                args.append(kind)
            query += " ORDER BY kind, id LIMIT ?"
            args.append(limit)
            rows = conn.execute(query, args).fetchall()
        return [
            ArtifactRecord(env_id, r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows
        ]

    def delete_artifact(self, env_id: str, kind: int, artifact_id: str) -> None:
        with self.db.write() as conn:
            env = self._writable(conn, env_id)
            cur = conn.execute(
                "DELETE FROM artifacts WHERE env_uid = ? AND kind = ? AND id = ?",
                (env.uid, kind, artifact_id),
            )
            if cur.rowcount == 0:
                raise artifact_not_found(names.artifact_name(env_id, kind, artifact_id))
            if kind == env_pb.ARTIFACT_KIND_AGREEMENT:
                conn.execute(
                    "DELETE FROM control_numbers WHERE env_uid = ? AND agreement = ?",
                    (env.uid, artifact_id),
                )

    def content_info(self, sha256: bytes) -> ContentInfo:
        def read() -> ContentInfo:
            with self.db.read() as conn:
                return self._content_info(conn, sha256)

        return _moved_once(read)

    def read_content(self, info: ContentInfo, offset: int, length: int) -> bytes:
        if info.is_inline:
            data = (
                info.inline
                if info.inline is not None
                else self.inline_contents([info.sha256])[info.sha256]
            )
            return data[offset : offset + length]
        return self.content.read_range(info.sha256, offset, length)

    def sweep_contents(self, grace: float = 0.0) -> int:
        """Deletes content no artifact references and that is older than
        ``grace`` (uploads awaiting their PutArtifact), then compacts segments
        mostly garbage. Skipped while a backup, restore or drill is unfinished:
        they hold digests outside any transaction. The check and the deletion
        share one write transaction, so no backup can start in between."""
        with self.db.write() as conn:
            # Pending or running backups (1), restores (2) and drills (7).
            busy = conn.execute(
                "SELECT 1 FROM operations WHERE state IN (1, 2) AND kind IN (1, 2, 7) LIMIT 1"
            ).fetchone()
            if busy:
                return 0
            rows = conn.execute(
                "SELECT sha256, NOT is_inline FROM contents c WHERE create_time <= ? AND NOT EXISTS "
                "(SELECT 1 FROM artifacts a WHERE a.sha256 = c.sha256)",
                (self.clock.now() - grace,),
            ).fetchall()
            for sha256, is_file in rows:
                conn.execute("DELETE FROM contents WHERE sha256 = ?", (sha256,))
                conn.execute("DELETE FROM content_bytes WHERE sha256 = ?", (sha256,))
                if is_file:
                    # Unlinked under the write lock: no writer can re-reference it meanwhile.
                    self.content.remove(sha256)
            emptied = self._compact_segments(conn)
        # Deleted once no row points into them any more (committed above). A
        # reader whose snapshot is older finds them gone and reads its rows again.
        for segment in emptied:
            self.content.segments.remove(segment)
        return len(rows)

    def _compact_segments(self, conn: sqlite3.Connection) -> list[int]:
        """Moves the live contents of segments less than half live to the
        current segment; returns the segments no row points into any more."""
        segments = self.content.segments
        live = dict(
            conn.execute(
                "SELECT segment, SUM(size) FROM contents WHERE segment IS NOT NULL GROUP BY segment"
            ).fetchall()
        )
        emptied = []
        for segment in segments.segments():
            size = segments.size(segment)
            if segment == segments.current or (size and live.get(segment, 0) * 2 >= size):
                continue
            rows = conn.execute(
                "SELECT sha256, seg_offset, size FROM contents WHERE segment = ? ORDER BY seg_offset",
                (segment,),
            ).fetchall()
            for part in _by_bytes(rows, _COMPACT_PIECE):
                data = segments.read_many((segment, off, size) for _, off, size in part)
                # Copied and synced before the rows move: data first, record last.
                moved_to, offsets = segments.append(data)
                conn.executemany(
                    "UPDATE contents SET segment = ?, seg_offset = ? WHERE sha256 = ?",
                    [
                        (moved_to, off, sha256)
                        for (sha256, _, _), off in zip(part, offsets, strict=True)
                    ],
                )
            emptied.append(segment)
        return emptied

    # -- runtime state --------------------------------------------------------

    def issue_control_numbers(self, env_id: str, agreement: str, sets: int) -> ControlNumberRecord:
        with self.db.write() as conn:
            env = self._live(conn, env_id)
            self._require_active(env)
            exists = conn.execute(
                "SELECT 1 FROM artifacts WHERE env_uid = ? AND kind = ? AND id = ?",
                (env.uid, env_pb.ARTIFACT_KIND_AGREEMENT, agreement),
            ).fetchone()
            if not exists:
                raise artifact_not_found(
                    names.artifact_name(env_id, env_pb.ARTIFACT_KIND_AGREEMENT, agreement)
                )
            now = self.clock.now()
            conn.execute(
                "INSERT INTO control_numbers (env_uid, agreement, interchange, grp, transaction_set, update_time) "
                "VALUES (?, ?, 1, 1, ?, ?) ON CONFLICT (env_uid, agreement) DO UPDATE SET "
                "interchange = interchange + 1, grp = grp + 1, transaction_set = transaction_set + ?, update_time = ?",
                (env.uid, agreement, sets, now, sets, now),
            )
            row = conn.execute(
                "SELECT interchange, grp, transaction_set, update_time FROM control_numbers WHERE env_uid = ? AND agreement = ?",
                (env.uid, agreement),
            ).fetchone()
        return ControlNumberRecord(agreement, *row)

    def list_control_numbers(self, env_id: str) -> list[ControlNumberRecord]:
        with self.db.read() as conn:
            env = self._live(conn, env_id)
            return self._control_numbers(conn, env.uid)

    def _control_numbers(self, conn: sqlite3.Connection, uid: str) -> list[ControlNumberRecord]:
        return [
            ControlNumberRecord(*r)
            for r in conn.execute(
                "SELECT agreement, interchange, grp, transaction_set, update_time FROM control_numbers "
                "WHERE env_uid = ? ORDER BY agreement",
                (uid,),
            )
        ]

    def record_as2(self, env_id: str, message_id: str, mic: str) -> tuple[bool, str, float]:
        with self.db.write() as conn:
            env = self._live(conn, env_id)
            row = conn.execute(
                "SELECT mic, first_seen FROM as2_messages WHERE env_uid = ? AND message_id = ?",
                (env.uid, message_id),
            ).fetchone()
            if row is not None:
                return True, row[0], row[1]
            if not mic:
                return False, "", 0.0
            self._require_active(env)
            now = self.clock.now()
            conn.execute(
                "INSERT INTO as2_messages (env_uid, message_id, mic, first_seen) VALUES (?, ?, ?, ?)",
                (env.uid, message_id, mic, now),
            )
            return False, mic, now

    def add_batch_message(self, env_id: str, batch: str, message_id: str) -> int:
        with self.db.write() as conn:
            env = self._live(conn, env_id)
            self._require_active(env)
            conn.execute(
                "INSERT OR IGNORE INTO batches (env_uid, batch) VALUES (?, ?)", (env.uid, batch)
            )
            conn.execute(
                "INSERT OR IGNORE INTO batch_messages (env_uid, batch, message_id, added) VALUES (?, ?, ?, ?)",
                (env.uid, batch, message_id, self.clock.now()),
            )
            return self._batch_count(conn, env.uid, batch)

    def release_batch(self, env_id: str, batch: str) -> int:
        with self.db.write() as conn:
            env = self._live(conn, env_id)
            if not conn.execute(
                "SELECT 1 FROM batches WHERE env_uid = ? AND batch = ?", (env.uid, batch)
            ).fetchone():
                raise object_not_found(f"environments/{env_id}/batches/{batch}")
            conn.execute(
                "DELETE FROM batch_messages WHERE env_uid = ? AND batch = ?", (env.uid, batch)
            )
            return 0

    def _batch_count(self, conn: sqlite3.Connection, uid: str, batch: str) -> int:
        return conn.execute(
            "SELECT COUNT(*) FROM batch_messages WHERE env_uid = ? AND batch = ?", (uid, batch)
        ).fetchone()[0]

    def list_batches(self, env_id: str) -> list[tuple[str, int]]:
        with self.db.read() as conn:
            env = self._live(conn, env_id)
            return self._batches(conn, env.uid)

    def _batches(self, conn: sqlite3.Connection, uid: str) -> list[tuple[str, int]]:
        return [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT b.batch, (SELECT COUNT(*) FROM batch_messages m WHERE m.env_uid = b.env_uid "
                "AND m.batch = b.batch) FROM batches b WHERE b.env_uid = ? ORDER BY b.batch",
                (uid,),
            )
        ]

    def create_hybrid_connection(self, env_id: str, hc_id: str, endpoint: str) -> None:
        with self.db.write() as conn:
            env = self._writable(conn, env_id)
            try:
                conn.execute(
                    "INSERT INTO hybrid_connections (env_uid, id, endpoint) VALUES (?, ?, ?)",
                    (env.uid, hc_id, endpoint),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(
                    "OBJECT_EXISTS",
                    f"hybrid connection {hc_id} already exists",
                    {"object": f"environments/{env_id}/hybridConnections/{hc_id}"},
                ) from None

    def delete_hybrid_connection(self, env_id: str, hc_id: str) -> None:
        with self.db.write() as conn:
            env = self._writable(conn, env_id)
            cur = conn.execute(
                "DELETE FROM hybrid_connections WHERE env_uid = ? AND id = ?", (env.uid, hc_id)
            )
            if cur.rowcount == 0:
                raise object_not_found(f"environments/{env_id}/hybridConnections/{hc_id}")

    def list_hybrid_connections(self, env_id: str) -> list[tuple[str, str]]:
        with self.db.read() as conn:
            env = self._live(conn, env_id)
            return list(
                conn.execute(
                    "SELECT id, endpoint FROM hybrid_connections WHERE env_uid = ? ORDER BY id",
                    (env.uid,),
                )
            )

    def _require_active(self, env: EnvRecord) -> None:
        if env.state != ACTIVE:
            state = env_pb.Environment.State.Name(env.state)
            raise FailedPrecondition(
                "INVALID_STATE",
                f"environment {env.name} is {state}; runtime calls need it ACTIVE",
                metadata={"state": state, "environment": names.environment_name(env.name)},
            )

    # -- backup and restore ---------------------------------------------------

    def active_batches(self, env_id: str) -> list[tuple[str, int]]:
        return [(b, n) for b, n in self.list_batches(env_id) if n > 0]

    def snapshot(self, env_id: str, all_contents: bool = False) -> Snapshot:
        """Reads everything a backup holds in one transaction: one instant (R2),
        all in memory (drills and diffs; backups stream, see ``hold_snapshot``).

        Content up to INLINE_MAX is always inline and one blob, so only larger
        content (files, chunk lists) is looked up, unless ``all_contents``."""
        with self.db.read() as conn:
            env = self._live(conn, env_id)
            now = self.clock.now()
            artifacts = [
                SnapshotItem(*r)
                for r in conn.execute(
                    "SELECT kind, id, sha256, size, item, metadata, update_time FROM artifacts "
                    "WHERE env_uid = ? ORDER BY kind, id",
                    (env.uid,),
                )
            ]
            contents = {
                r[0]: ContentInfo(r[0], r[1], bool(r[2]), decode_chunks(r[3]), r[4])
                for r in conn.execute(
                    "SELECT sha256, size, is_inline, chunks, chunker FROM contents WHERE sha256 IN "
                    "(SELECT sha256 FROM artifacts WHERE env_uid = ? AND size > ?)",
                    (env.uid, -1 if all_contents else INLINE_MAX),
                )
            }
            return Snapshot(
                env=env,
                artifacts=artifacts,
                contents=contents,
                **self._snapshot_header(conn, env),
                time=now,
                chunker=self.content.chunker_id,
            )

    def hold_snapshot(self, env_id: str) -> HeldSnapshot:
        """Opens a backup's snapshot (R2): a read transaction held until the
        snapshot is closed, its artifacts streamed from it (snapshot.py)."""
        held = self.db.held_read()
        try:
            conn = held.conn
            env = self._live(conn, env_id)
            now = self.clock.now()
            count, total = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM artifacts WHERE env_uid = ?",
                (env.uid,),
            ).fetchone()
            return HeldSnapshot(
                env=env,
                **self._snapshot_header(conn, env),
                artifact_count=count,
                total_bytes=total,
                time=now,
                _read=held,
            )
        except BaseException:
            held.close()
            raise

    def _snapshot_header(self, conn: sqlite3.Connection, env: EnvRecord) -> dict[str, Any]:
        """What a snapshot holds besides artifacts, read in its transaction."""
        batches: dict[str, list[str]] = {}
        for batch, message_id in conn.execute(
            "SELECT batch, message_id FROM batch_messages WHERE env_uid = ? ORDER BY batch, message_id",
            (env.uid,),
        ):
            batches.setdefault(batch, []).append(message_id)
        return {
            "control_numbers": self._control_numbers(conn, env.uid),
            "as2_messages": list(
                conn.execute(
                    "SELECT message_id, mic, first_seen FROM as2_messages WHERE env_uid = ? ORDER BY message_id",
                    (env.uid,),
                )
            ),
            "batches": batches,
            "hybrid_connections": list(
                conn.execute(
                    "SELECT id, endpoint FROM hybrid_connections WHERE env_uid = ? ORDER BY id",
                    (env.uid,),
                )
            ),
            # Opened in the snapshot's transaction: a key rotation that seals the
            # registry again while the backup runs cannot leave it unreadable.
            "settings": self.settings_plain(env),
        }

    def inline_contents(self, digests: list[bytes]) -> dict[bytes, bytes]:
        """Inline content of many digests, in few queries and few reads."""
        return _moved_once(lambda: self._inline_contents(digests))

    def _inline_contents(self, digests: list[bytes]) -> dict[bytes, bytes]:
        out: dict[bytes, bytes] = {}
        in_segments: list[tuple[bytes, int, int, int]] = []
        with self.db.read() as conn:
            for marks, part in _digest_lists(digests):
                for sha256, data, segment, offset, size in conn.execute(
                    "SELECT c.sha256, b.data, c.segment, c.seg_offset, c.size FROM contents c "
                    "LEFT JOIN content_bytes b ON b.sha256 = c.sha256 "
                    f"WHERE c.is_inline AND c.sha256 IN ({marks})",
                    part,
                ):
                    if segment is not None:
                        in_segments.append((sha256, segment, offset, size))
                    elif data is not None:
                        out[sha256] = bytes(data)
        found = self.content.segments.read_many((seg, off, n) for _, seg, off, n in in_segments)
        out.update(zip((d for d, _, _, _ in in_segments), found, strict=True))
        missing = [d for d in digests if d not in out]
        if missing:
            raise ConcurrentChange(f"content {missing[0].hex()} vanished")
        return out

    def has_content(self, sha256: bytes) -> bool:
        with self.db.read() as conn:
            return (
                conn.execute("SELECT 1 FROM contents WHERE sha256 = ?", (sha256,)).fetchone()
                is not None
            )

    def install_contents(self, staged: list[StagedContent]) -> None:
        """Makes verified content available ahead of the transaction that will
        reference it, so a restore does not hold every small artifact in memory.
        Unreferenced content is invisible to environments (and swept if the
        restore never references it)."""
        # Not synced here: the restore's final transaction syncs the log with it.
        with self.db.write(durable=False) as conn:
            self._install_all(conn, staged)

    def create_restored(self, plan: RestorePlanData) -> EnvRecord:
        """Creates the restored environment, SUSPENDED, in one transaction (R6, R7)."""
        with self.db.write() as conn:
            self.check_name_free(conn, plan.env_id, plan.release_period)
            self._install_all(conn, plan.contents)
            uid = secrets.token_hex(16)
            now = self.clock.now()
            stored = settings_mod.seal_all(self.box, uid, plan.settings_plain)
            conn.execute(
                "INSERT INTO environments (uid, name, edition, region, state, settings, create_time, "
                "update_time, restored_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uid,
                    plan.env_id,
                    plan.edition,
                    plan.region,
                    SUSPENDED,
                    stored,
                    now,
                    now,
                    plan.restored_from,
                ),
            )
            conn.executemany(
                "INSERT INTO artifacts (env_uid, kind, id, sha256, size, metadata, update_time, item) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (uid, k, i, d, size, _metadata_json(m), t, item)
                    for k, i, d, size, m, t, item in plan.artifacts
                ),
            )
            conn.executemany(
                "INSERT INTO control_numbers (env_uid, agreement, interchange, grp, transaction_set, update_time) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (uid, c.agreement, c.interchange, c.group, c.transaction_set, c.update_time)
                    for c in plan.control_numbers
                ],
            )
            conn.executemany(
                "INSERT INTO as2_messages (env_uid, message_id, mic, first_seen) VALUES (?, ?, ?, ?)",
                [(uid, m, mic, t) for m, mic, t in plan.as2_messages],
            )
            conn.executemany(
                "INSERT INTO batches (env_uid, batch) VALUES (?, ?)",
                [(uid, b) for b in plan.batches],
            )
            for write in plan.extra_writes:
                write(conn, uid)
        return self.get(plan.env_id)

    def restore_into(self, data: RestoreIntoData) -> EnvRecord:
        """Writes chosen artifacts of a backup into an existing SUSPENDED
        environment, in one transaction (R6). Control numbers only ever rise:
        a counter the environment has issued past is kept."""
        with self.db.write() as conn:
            env = self._writable(conn, data.env_id)
            if env.uid != data.env_uid:
                raise ConcurrentChange(
                    f"environment {data.env_id} was replaced while the restore ran; nothing changed"
                )
            if env.state != SUSPENDED:
                state = env_pb.Environment.State.Name(env.state)
                raise FailedPrecondition(
                    "INVALID_STATE",
                    f"environment {data.env_id} is {state}; restore into a SUSPENDED environment",
                    metadata={"state": state, "environment": names.environment_name(data.env_id)},
                )
            self._install_all(conn, data.contents)
            conn.executemany(
                "INSERT OR REPLACE INTO artifacts (env_uid, kind, id, sha256, size, metadata, update_time, item) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (env.uid, k, i, d, size, _metadata_json(m), t, item)
                    for k, i, d, size, m, t, item in data.artifacts
                ),
            )
            conn.executemany(
                "INSERT INTO control_numbers (env_uid, agreement, interchange, grp, transaction_set, update_time) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (env_uid, agreement) DO UPDATE SET "
                "interchange = MAX(interchange, excluded.interchange), grp = MAX(grp, excluded.grp), "
                "transaction_set = MAX(transaction_set, excluded.transaction_set), "
                "update_time = excluded.update_time",
                [
                    (env.uid, c.agreement, c.interchange, c.group, c.transaction_set, c.update_time)
                    for c in data.control_numbers
                ],
            )
            for write in data.extra_writes:
                write(conn, env.uid)
        return self.get(data.env_id)

    def reseal(self) -> int:
        """Seals every stored secret again with the box's current key, in one
        transaction (a key rotation); returns how many environments had secrets.
        Deleted environments' rows too: nothing may stay under a retired key."""
        count = 0
        with self.db.write() as conn:
            rows = conn.execute("SELECT uid, settings FROM environments").fetchall()
            for uid, stored in rows:
                plain = settings_mod.open_all(self.box, uid, stored, reveal=True)
                if not any(plain.HasField(name) for name in settings_mod.SECRET_FIELDS):
                    continue
                conn.execute(
                    "UPDATE environments SET settings = ? WHERE uid = ?",
                    (settings_mod.seal_all(self.box, uid, plain), uid),
                )
                count += 1
        return count


def _present(conn: sqlite3.Connection, digests: Iterable[bytes]) -> Iterator[bytes]:
    """The digests the registry holds content for, a query per 512."""
    for marks, part in _digest_lists(digests):
        for (digest,) in conn.execute(
            f"SELECT sha256 FROM contents WHERE sha256 IN ({marks})", part
        ):
            yield digest


_IN_LIST_MAX = 512


def _digest_lists(digests: Iterable[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """Digests in parts for ``IN (...)`` lists: the placeholders and the part.

    Each part is padded (repeating its last digest, which ``IN`` ignores) to a
    power of two: every connection caches the statements it has run, and with
    a statement for every length up to 512, each kept about 2 MB of them
    (measured in a restore of 80,000 artifacts), growing with the environment.
    Now there are at most ten."""
    it = iter(digests)
    while part := list(itertools.islice(it, _IN_LIST_MAX)):
        width = 1 << (len(part) - 1).bit_length()
        part.extend(itertools.repeat(part[-1], width - len(part)))
        yield ",".join("?" * width), part


_COMPACT_PIECE = 8 * 1024 * 1024  # a compaction holds this much of a segment at a time


def _by_bytes(
    rows: list[tuple[bytes, int, int]], limit: int
) -> Iterator[list[tuple[bytes, int, int]]]:
    """(sha256, offset, size) rows in parts of about ``limit`` bytes."""
    part: list[tuple[bytes, int, int]] = []
    total = 0
    for row in rows:
        part.append(row)
        total += row[2]
        if total >= limit:
            yield part
            part, total = [], 0
    if part:
        yield part


def _moved_once(read: Callable[[], T]) -> T:
    """Runs a read again if a segment it used was compacted away after its
    snapshot: the second read sees the rows' new places."""
    try:
        return read()
    except SegmentMissing:
        try:
            return read()
        except SegmentMissing as e:
            raise ConcurrentChange(f"content moved twice while read: {e}") from e


def _metadata_json(metadata: Mapping[str, str]) -> str:
    # Most artifacts have none; a restore writes tens of thousands of rows.
    return json.dumps(metadata, sort_keys=True) if metadata else "{}"
