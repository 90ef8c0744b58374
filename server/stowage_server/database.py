"""The SQLite database under the data directory: connections and schema.

WAL mode: one writer at a time, readers never blocked, and a read transaction
sees one consistent snapshot, which is what makes a backup point-in-time
consistent while management writes continue (R2). Every thread gets its own
connection; blocking calls run on the server's bounded thread pool.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SCHEMA_VERSION = 4
PAGE_SIZE = 16384
# Page cache per connection, in KiB (as PRAGMA cache_size takes it, negated).
# In WAL mode a connection drops its cached pages whenever another connection
# has written since its last transaction, so while a restore or a backup
# writes, a pool connection's cache rarely outlives a read: a small one costs
# reads nothing, where SQLite's default of 2 MB each would fill as the tables
# grow (five connections, 10 MB). A write transaction, which walks the same
# B-tree pages over and over, has the default while it runs. A held read (a
# backup's snapshot) reads its pages about once each: the small cache too
# (measured at scale 4: 3 MB less at a backup's peak, no slower).
READ_CACHE_KIB = 256
WRITE_CACHE_KIB = 2048

_SCHEMA = """
CREATE TABLE IF NOT EXISTS environments (
    uid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    edition INTEGER NOT NULL,
    region TEXT NOT NULL,
    state INTEGER NOT NULL,
    settings BLOB NOT NULL,
    create_time REAL NOT NULL,
    update_time REAL NOT NULL,
    restored_from TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    quiesced_by TEXT NOT NULL DEFAULT '',
    deleted_time REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS live_environment_names
    ON environments(name) WHERE deleted_time IS NULL;
CREATE INDEX IF NOT EXISTS environment_names ON environments(name, deleted_time);

-- Every stored content, small or large. Kept narrow on purpose: a backup reads
-- a row per artifact, and bytes stored inline would have to be stepped over.
CREATE TABLE IF NOT EXISTS contents (
    sha256 BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    is_inline INTEGER NOT NULL,
    chunks BLOB,
    chunker TEXT NOT NULL,
    create_time REAL NOT NULL,
    -- Where a small content's bytes lie (segments.py); NULL for files, and for
    -- small contents written before segments, whose bytes are in content_bytes.
    segment INTEGER,
    seg_offset INTEGER
);

-- The bytes of small contents written before segments (schema 3); new ones are
-- appended to segments, larger ones are files under DATA_DIR/content.
CREATE TABLE IF NOT EXISTS content_bytes (
    sha256 BLOB PRIMARY KEY,
    data BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS artifacts (
    env_uid TEXT NOT NULL,
    kind INTEGER NOT NULL,
    id TEXT NOT NULL,
    sha256 BLOB NOT NULL,
    size INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    update_time REAL NOT NULL,
    -- The artifact's stowage.v1.ManifestItem, encoded once when it is written,
    -- so that a backup assembles its manifest without re-encoding anything.
    item BLOB NOT NULL DEFAULT x'',
    PRIMARY KEY (env_uid, kind, id)
);
CREATE INDEX IF NOT EXISTS artifacts_by_content ON artifacts(sha256);
-- An environment's artifact count and total size (every backup's progress
-- totals) from this index alone, not from a walk of the table's rows.
CREATE INDEX IF NOT EXISTS artifacts_sizes ON artifacts(env_uid, size);

CREATE TABLE IF NOT EXISTS control_numbers (
    env_uid TEXT NOT NULL,
    agreement TEXT NOT NULL,
    interchange INTEGER NOT NULL,
    grp INTEGER NOT NULL,
    transaction_set INTEGER NOT NULL,
    update_time REAL NOT NULL,
    PRIMARY KEY (env_uid, agreement)
);

CREATE TABLE IF NOT EXISTS as2_messages (
    env_uid TEXT NOT NULL,
    message_id TEXT NOT NULL,
    mic TEXT NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (env_uid, message_id)
);

CREATE TABLE IF NOT EXISTS batches (
    env_uid TEXT NOT NULL,
    batch TEXT NOT NULL,
    PRIMARY KEY (env_uid, batch)
);

CREATE TABLE IF NOT EXISTS batch_messages (
    env_uid TEXT NOT NULL,
    batch TEXT NOT NULL,
    message_id TEXT NOT NULL,
    added REAL NOT NULL,
    PRIMARY KEY (env_uid, batch, message_id)
);

CREATE TABLE IF NOT EXISTS hybrid_connections (
    env_uid TEXT NOT NULL,
    id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    PRIMARY KEY (env_uid, id)
);

CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    kind INTEGER NOT NULL,
    target TEXT NOT NULL,
    state INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    owner TEXT NOT NULL,
    create_time REAL NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS operation_requests
    ON operations(kind, request_id) WHERE request_id != '';
-- R11: at most one pending or running backup per environment.
CREATE UNIQUE INDEX IF NOT EXISTS one_backup_per_environment
    ON operations(target) WHERE kind = 1 AND state IN (1, 2);
CREATE INDEX IF NOT EXISTS operations_by_time ON operations(create_time);
CREATE INDEX IF NOT EXISTS operations_by_target ON operations(target, create_time);

CREATE TABLE IF NOT EXISTS operation_events (
    op_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (op_id, seq)
);

-- Backup policies, by environment uid: a new environment of the same name
-- does not inherit one. body is a stowage.v1.BackupPolicy.
CREATE TABLE IF NOT EXISTS backup_policies (
    env_uid TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    update_time REAL NOT NULL
);

-- One row per scheduled run (slot: the policy's run time, in milliseconds).
-- The primary key is the lease: of several servers sharing this database,
-- the one whose INSERT lands runs the slot.
CREATE TABLE IF NOT EXISTS scheduled_runs (
    env_uid TEXT NOT NULL,
    slot INTEGER NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    operation TEXT NOT NULL DEFAULT '',
    claim_time REAL NOT NULL,
    end_time REAL,
    error BLOB,
    PRIMARY KEY (env_uid, slot)
);

-- The checklist of each restored environment (checklist.py). body is a
-- stowage.v1.ChecklistItem; watch says what closes it (JSON).
CREATE TABLE IF NOT EXISTS checklist_items (
    env_uid TEXT NOT NULL,
    id TEXT NOT NULL,
    position INTEGER NOT NULL,
    body BLOB NOT NULL,
    watch TEXT NOT NULL,
    PRIMARY KEY (env_uid, id)
);
"""


class Database:
    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self._connect()
        # executescript commits on its own; every statement is idempotent.
        conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        self._migrate(conn)
        # The database holds sealed secrets only, but keep it private anyway.
        os.chmod(path, 0o600)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < 2:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(artifacts)")}
            if "item" not in columns:
                # Items of older artifacts are empty; backups encode those on the fly.
                conn.execute("ALTER TABLE artifacts ADD COLUMN item BLOB NOT NULL DEFAULT x''")
        if version < 3:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(contents)")}
            if "inline" in columns:
                # Inline bytes move to a table of their own (see the schema).
                conn.executescript(
                    "BEGIN IMMEDIATE;"
                    "ALTER TABLE contents ADD COLUMN is_inline INTEGER NOT NULL DEFAULT 0;"
                    "INSERT OR IGNORE INTO content_bytes SELECT sha256, inline FROM contents "
                    "WHERE inline IS NOT NULL;"
                    "UPDATE contents SET is_inline = 1 WHERE inline IS NOT NULL;"
                    "ALTER TABLE contents DROP COLUMN inline;"
                    "COMMIT;"
                )
        if version < 4:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(contents)")}
            if "segment" not in columns:
                conn.executescript(
                    "BEGIN IMMEDIATE;"
                    "ALTER TABLE contents ADD COLUMN segment INTEGER;"
                    "ALTER TABLE contents ADD COLUMN seg_offset INTEGER;"
                    "COMMIT;"
                )
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        # Takes effect only where the file is new (a database keeps the page size
        # it was made with). A restore writes tens of thousands of rows in a few
        # transactions: 16 KiB pages take fewer log frames than 4 KiB (measured
        # before segments, 15% off a restore; with them 2.06-2.58 s against
        # 2.35-2.67 s, alternated), and hold a registry's older small contents
        # (content_bytes) without overflow pages.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def held_read(self) -> HeldRead:
        """A read transaction on a connection of its own, held open until
        closed: a long reader (a backup) sees one snapshot throughout while the
        pool's connections go on reading and writing. Blocking; one thread at
        a time may use it."""
        conn = self._open()
        try:
            conn.execute("BEGIN")
            # A deferred transaction takes its snapshot at the first read.
            conn.execute("SELECT 1 FROM environments LIMIT 1").fetchall()
        except BaseException:
            conn.close()
            raise
        return HeldRead(conn)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same snapshot."""
        conn = self._connect()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (no upgrade deadlocks).

        ``durable=False`` skips the fsync at commit, for writes that a later
        durable commit on this database makes durable with them (the write-ahead
        log is synced whole), or that may be lost to a power cut without harm."""
        conn = self._connect()
        if not durable:
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size=-{WRITE_CACHE_KIB}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            if not durable:
                conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()


class HeldRead:
    """An open read transaction (see ``Database.held_read``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error:
            pass
        self.conn.close()
