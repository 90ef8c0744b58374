"""The checklist of a restored environment: what the operator must do before
it runs.

The retired platform's documentation warned about each of these and left them
to the operator; here they are items on the environment, created in the very
transaction that creates the restored environment, so no restored environment
is ever without its checklist.

An item closes itself when the fix is seen. Whenever the checklist is read
(GetEnvironment, AcknowledgeChecklistItem, ResumeEnvironment) each open item
is checked against the environment as it is then, and an item found fixed is
closed for good (DONE), with what was seen and when. Acknowledging closes an
item by hand (ACKNOWLEDGED), for a fix Stowage cannot see.

What blocks ResumeEnvironment, and why:

- an FTP folder conflict: two environments pulling one folder take each
  other's files, and neither processes them all;
- the credentials, when another live environment held the same access-control
  key at restore time: two running environments would authenticate as one. A
  restore whose source is gone (disaster recovery) keeps its credentials on
  purpose, and the item is then a reminder only.

Hybrid connections, the backup policy and the tracking-data note never block:
running without them loses nothing that resuming later would save.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from stowage.v1 import environments_pb2 as env_pb

from . import names
from .clock import Clock, timestamp
from .database import Database
from .errors import InvalidArgument, environment_not_found, object_not_found
from .registry import FTP_FOLDER

T = TypeVar("T")
Item = env_pb.ChecklistItem
OPEN, DONE, ACKNOWLEDGED = Item.STATE_OPEN, Item.STATE_DONE, Item.STATE_ACKNOWLEDGED
CREDENTIALS, BACKUP_POLICY, TRACKING_DATA = "credentials", "backup-policy", "tracking-data"
MAX_NOTE = 1024


def item_name(env_id: str, item_id: str) -> str:
    return f"environments/{env_id}/checklistItems/{item_id}"


def parse_item_name(name: str, field: str = "name") -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "environments" or parts[2] != "checklistItems":
        raise InvalidArgument(field, "must be environments/{environment}/checklistItems/{item}")
    env_id = names.check_environment_id(parts[1], field)
    item_id = parts[3]
    if not item_id or len(item_id) > 160 or not names.is_artifact_id(item_id):
        raise InvalidArgument(field, "an item id is letters, digits, '.', '_' and '-'")
    return env_id, item_id


@dataclass
class Entry:
    """An item with what closes it (``watch``: what the fix changes)."""

    item: Item
    watch: dict[str, str]


@dataclass(frozen=True)
class FtpConflict:
    agreement: str
    folder: str
    pulled_by: list[str]  # "environment (agreement)"


def restore_items(
    target: str,
    *,
    backed_up_key: str,
    restored_key: str,
    key_holders: list[str],
    ftp_conflicts: list[FtpConflict],
    hybrid_connections: list[tuple[str, str]],
    policy_copied: bool,
    now: float,
) -> list[Entry]:
    """The checklist of an environment restored as ``target``. Keys are
    fingerprints (``backed_up_key`` empty when the backup had none);
    ``key_holders`` are the live environments that hold the backed-up key;
    ``hybrid_connections`` are (id, what to do) pairs."""
    out: list[Entry] = []
    if backed_up_key:
        shared = f", which {', '.join(key_holders)} also hold(s)" if key_holders else ""
        entry = Entry(
            Item(
                id=CREDENTIALS,
                kind=Item.KIND_CREDENTIALS,
                subject="settings.access_control_key",
                description=(
                    f"the access-control key is the backed-up one{shared}: re-point the "
                    f"credentials (stowage env update {target} --set access-control-key=...)"
                ),
                blocking=bool(key_holders),
                state=OPEN,
            ),
            {"fingerprint": backed_up_key},
        )
        if restored_key != backed_up_key:
            _close(entry.item, DONE, "access_control_key replaced by the restore request", now)
        out.append(entry)
    for c in ftp_conflicts:
        out.append(
            Entry(
                Item(
                    id=f"ftp-folder-{c.agreement}",
                    kind=Item.KIND_FTP_FOLDER,
                    subject=names.artifact_name(
                        target, env_pb.ARTIFACT_KIND_AGREEMENT, c.agreement
                    ),
                    description=(
                        f"agreement {c.agreement} pulls source folder {c.folder}, as does "
                        f"{'; '.join(c.pulled_by)}: give it a folder of its own (its "
                        f"{FTP_FOLDER} metadata)"
                    ),
                    blocking=True,
                    state=OPEN,
                ),
                {"agreement": c.agreement, "folder": c.folder},
            )
        )
    for hc_id, why in hybrid_connections:
        out.append(
            Entry(
                Item(
                    id=f"hybrid-connection-{hc_id}",
                    kind=Item.KIND_HYBRID_CONNECTION,
                    subject=f"environments/{target}/hybridConnections/{hc_id}",
                    description=why,
                    blocking=False,
                    state=OPEN,
                ),
                {"connection": hc_id},
            )
        )
    policy = Entry(
        Item(
            id=BACKUP_POLICY,
            kind=Item.KIND_BACKUP_POLICY,
            subject=names.environment_name(target),
            description=(
                f"configure automatic backups (stowage backup policy set {target} --every ...)"
            ),
            blocking=False,
            state=OPEN,
        ),
        {},
    )
    if policy_copied:
        _close(policy.item, DONE, "backup policy copied from the backup", now)
    out.append(policy)
    out.append(
        Entry(
            Item(
                id=TRACKING_DATA,
                kind=Item.KIND_TRACKING_DATA,
                subject=names.environment_name(target),
                description=(
                    "tracking data is not part of a backup: the environment points at the "
                    "backed-up tracking database connection string, and messages tracked "
                    "before the restore are only there; acknowledge once understood"
                ),
                blocking=False,
                state=OPEN,
            ),
            {},
        )
    )
    return out


def _close(item: Item, state: int, resolution: str, now: float) -> None:
    item.state = state  # type: ignore[assignment]
    item.resolution = resolution
    item.close_time.CopyFrom(timestamp(now))


class Checklists:
    """Stores checklists and closes their items; blocking methods run on the
    worker pool through the async ones."""

    def __init__(self, db: Database, clock: Clock, executor: Executor | None) -> None:
        self.db = db
        self.clock = clock
        self._executor = executor

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    # -- written with a restore -----------------------------------------------

    @staticmethod
    def writer(entries: list[Entry]) -> Callable[[sqlite3.Connection, str], None]:
        """Writes ``entries`` in the caller's transaction (the restore's),
        after the environment's existing items; an item of the same id is
        replaced (a restore into an existing environment reopens it)."""

        def write(conn: sqlite3.Connection, uid: str) -> None:
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(position), -1) FROM checklist_items WHERE env_uid = ?", (uid,)
            ).fetchone()
            conn.executemany(
                "INSERT OR REPLACE INTO checklist_items (env_uid, id, position, body, watch) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        uid,
                        e.item.id,
                        last + 1 + i,
                        e.item.SerializeToString(deterministic=True),
                        json.dumps(e.watch, sort_keys=True),
                    )
                    for i, e in enumerate(entries)
                ],
            )

        return write

    def key_holders(self, fingerprint: str) -> list[str]:
        """Live environments (sandboxes aside) whose access-control key has this fingerprint."""
        if not fingerprint:
            return []
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT name, settings FROM environments WHERE deleted_time IS NULL "
                "AND name NOT GLOB ? ORDER BY name",
                (names.SANDBOX_GLOB,),
            ).fetchall()
        return [name for name, stored in rows if _key_fingerprint(stored) == fingerprint]

    # -- read, closed, acknowledged -------------------------------------------

    async def items(self, env_id: str) -> list[Item]:
        return await self._run(lambda: self._refresh(env_id))

    async def open_blocking(self, env_id: str) -> list[Item]:
        return [i for i in await self.items(env_id) if i.blocking and i.state == OPEN]

    async def acknowledge(self, name: str, note: str) -> Item:
        env_id, item_id = parse_item_name(name)
        if len(note) > MAX_NOTE or not note.isprintable():
            raise InvalidArgument("note", f"at most {MAX_NOTE} printable characters")
        return await self._run(lambda: self._acknowledge(env_id, item_id, note))

    def _acknowledge(self, env_id: str, item_id: str, note: str) -> Item:
        for item in self._refresh(env_id, acknowledge=(item_id, note)):
            if item.id == item_id:
                return item
        raise object_not_found(item_name(env_id, item_id))

    def _refresh(self, env_id: str, acknowledge: tuple[str, str] | None = None) -> list[Item]:
        """The checklist, after closing what is fixed (and acknowledging one item)."""
        with self.db.read() as conn:
            uid = _uid(conn, env_id)
            rows = _rows(conn, uid)
        if acknowledge is not None or any(
            item.state == OPEN and _closes_itself(item) for item, _ in rows
        ):
            with self.db.write() as conn:
                uid = _uid(conn, env_id)
                rows = _rows(conn, uid)
                now = self.clock.now()
                for item, watch in rows:
                    if item.state != OPEN:
                        continue
                    resolution = _fixed(conn, uid, item, watch)
                    if resolution:
                        _close(item, DONE, resolution, now)
                    elif acknowledge is not None and acknowledge[0] == item.id:
                        note = acknowledge[1]
                        _close(
                            item, ACKNOWLEDGED, "acknowledged" + (f": {note}" if note else ""), now
                        )
                    else:
                        continue
                    conn.execute(
                        "UPDATE checklist_items SET body = ? WHERE env_uid = ? AND id = ?",
                        (item.SerializeToString(deterministic=True), uid, item.id),
                    )
        out = []
        for item, _ in rows:
            item.name = item_name(env_id, item.id)
            out.append(item)
        return out


def _uid(conn: sqlite3.Connection, env_id: str) -> str:
    row = conn.execute(
        "SELECT uid FROM environments WHERE name = ? AND deleted_time IS NULL", (env_id,)
    ).fetchone()
    if row is None:
        raise environment_not_found(names.environment_name(env_id))
    return str(row[0])


def _rows(conn: sqlite3.Connection, uid: str) -> list[tuple[Item, dict[str, str]]]:
    return [
        (Item.FromString(body), json.loads(watch))
        for body, watch in conn.execute(
            "SELECT body, watch FROM checklist_items WHERE env_uid = ? ORDER BY position", (uid,)
        )
    ]


def _closes_itself(item: Item) -> bool:
    return item.kind != Item.KIND_TRACKING_DATA


def _key_fingerprint(stored: bytes) -> str:
    settings = env_pb.EnvironmentSettings.FromString(stored)
    return (
        settings.access_control_key.fingerprint if settings.HasField("access_control_key") else ""
    )


def _fixed(conn: sqlite3.Connection, uid: str, item: Item, watch: dict[str, str]) -> str:
    """What shows the item fixed, in words; empty while it is not."""
    if item.kind == Item.KIND_CREDENTIALS:
        (stored,) = conn.execute(
            "SELECT settings FROM environments WHERE uid = ?", (uid,)
        ).fetchone()
        current = _key_fingerprint(stored)
        if current == watch["fingerprint"]:
            return ""
        return "access_control_key changed" if current else "access_control_key cleared"
    if item.kind == Item.KIND_FTP_FOLDER:
        agreement, folder = watch["agreement"], watch["folder"]
        row = conn.execute(
            "SELECT metadata FROM artifacts WHERE env_uid = ? AND kind = ? AND id = ?",
            (uid, env_pb.ARTIFACT_KIND_AGREEMENT, agreement),
        ).fetchone()
        if row is None:
            return f"agreement {agreement} deleted"
        now_pulls = json.loads(row[0]).get(FTP_FOLDER, "")
        if now_pulls != folder:
            return f"source folder changed to {now_pulls}" if now_pulls else "source folder removed"
        others = conn.execute(
            "SELECT 1 FROM artifacts a JOIN environments e ON e.uid = a.env_uid "
            "WHERE e.deleted_time IS NULL AND e.uid != ? AND e.name NOT GLOB ? AND a.kind = ? "
            "AND json_extract(a.metadata, ?) = ? LIMIT 1",
            (uid, names.SANDBOX_GLOB, env_pb.ARTIFACT_KIND_AGREEMENT, f'$."{FTP_FOLDER}"', folder),
        ).fetchone()
        return "" if others else f"no other live environment pulls {folder} any more"
    if item.kind == Item.KIND_HYBRID_CONNECTION:
        hc_id = watch["connection"]
        found = conn.execute(
            "SELECT 1 FROM hybrid_connections WHERE env_uid = ? AND id = ?", (uid, hc_id)
        ).fetchone()
        return f"hybrid connection {hc_id} created" if found else ""
    if item.kind == Item.KIND_BACKUP_POLICY:
        found = conn.execute("SELECT 1 FROM backup_policies WHERE env_uid = ?", (uid,)).fetchone()
        return "backup policy set" if found else ""
    return ""
