"""Repository maintenance at the storage level: checking packs and the index,
and pruning what a given set of live blobs does not need.

Which blobs are live is the caller's knowledge (it reads the manifests); this
module knows only packs, index objects and documents.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .codec import CodecError
from .index import Index, encode_index
from .pack import BlobDecoder, BlobMismatch, Entry, pack_key, stored_bytes
from .repository import CorruptObject, Repository
from .store import ObjectNotFound

Progress = Callable[[int, int, str], Awaitable[None]]  # items done, bytes done, current object


@dataclass(frozen=True)
class Problem:
    object: str
    description: str
    blob: bytes = b""


@dataclass
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    packs_checked: int = 0
    blobs_checked: int = 0
    bytes_read: int = 0
    missing_packs: set[str] = field(default_factory=set)
    bad_blobs: dict[bytes, Problem] = field(default_factory=dict)


async def check(repo: Repository, read_data: bool, progress: Progress) -> CheckReport:
    """Index objects readable; every indexed pack present, long enough, with a
    trailer that agrees with the index; with ``read_data``, every blob hashed."""
    report = CheckReport()
    try:
        await repo.reload()
    except CorruptObject as e:
        report.problems.append(Problem(e.key, str(e)))
        # Carry on with what the readable index objects say.
        await _reload_skipping_bad(repo, report)
    for pack_id, entries in sorted(repo.index.packs.items()):
        key = pack_key(pack_id)
        report.packs_checked += 1
        await progress(1, 0, key)
        try:
            size = (await repo.store.stat(key)).size
        except ObjectNotFound:
            report.missing_packs.add(pack_id)
            report.problems.append(
                Problem(key, f"pack is missing ({len(entries)} blobs indexed in it)")
            )
            continue
        end = max((e.offset + e.length for e in entries), default=0)
        if size < end:
            report.problems.append(
                Problem(key, f"pack is truncated: {size} bytes, index needs {end}")
            )
            continue
        try:
            trailer = await repo.pack_entries(pack_id)
        except CorruptObject as e:
            report.problems.append(Problem(key, str(e)))
            trailer = None
        if trailer is not None and {
            (e.sha256, e.offset, e.length, e.bundle_offset) for e in trailer
        } != {(e.sha256, e.offset, e.length, e.bundle_offset) for e in entries}:
            report.problems.append(Problem(key, "pack trailer and index disagree about its blobs"))
        if read_data:
            await _read_pack(repo, key, entries, report, progress)
        else:
            report.blobs_checked += len(entries)
    return report


async def _reload_skipping_bad(repo: Repository, report: CheckReport) -> None:
    repo.index = Index(repo.scratch_dir)
    for info in await repo.store.list("index/"):
        with contextlib.suppress(CorruptObject):
            await repo.load_index_object(repo.index, info.key)


async def _read_pack(
    repo: Repository, key: str, entries: list[Entry], report: CheckReport, progress: Progress
) -> None:
    data = await repo.store.read(key)
    report.bytes_read += len(data)

    def verify() -> list[Problem]:
        bad = []
        view = memoryview(data)
        decoder = BlobDecoder(repo.codec)
        for e in entries:
            stored = view[e.offset : e.offset + e.length]
            try:
                decoder.decode(
                    stored, (e.offset, e.length), e.sha256, e.raw_length, e.bundle_offset, True
                )
            except CodecError as err:
                bad.append(Problem(key, f"blob is unreadable: {err}", e.sha256))
            except BlobMismatch:
                bad.append(Problem(key, "blob does not match its digest", e.sha256))
        return bad

    for p in await repo._run(verify):
        report.problems.append(p)
        report.bad_blobs[p.blob] = p
    report.blobs_checked += len(entries)
    await progress(0, len(data), key)


@dataclass
class PruneStats:
    packs_deleted: int = 0
    packs_repacked: int = 0
    blobs_removed: int = 0
    bytes_freed: int = 0
    documents_deleted: int = 0
    index_objects_replaced: int = 0


async def prune(
    repo: Repository,
    live_blobs: set[bytes],
    live_documents: set[str],
    progress: Progress,
) -> PruneStats:
    """Deletes every blob not in ``live_blobs`` and every manifest or data key
    not in ``live_documents``. The caller holds the exclusive lock.

    Order is the safety argument: live blobs of mixed packs are copied into new
    packs first; then one consolidated index naming only what stays is written;
    then the old index objects go; and only then the dead packs, which by now
    no index names. A crash at any step leaves every live blob indexed.
    """
    stats = PruneStats()
    old_index_keys = await repo.reload()
    stored = {info.key.rsplit("/", 1)[-1]: info.size for info in await repo.store.list("packs/")}
    indexed = dict(repo.index.packs)
    doomed: list[str] = []
    keep: dict[str, list[Entry]] = {}
    session = repo.session(ignore_index=True)
    try:
        for pack_id, size in sorted(stored.items()):
            entries = indexed.get(pack_id)
            if entries is None:  # left by a backup that never committed
                doomed.append(pack_id)
                stats.bytes_freed += size
                continue
            live = [e for e in entries if e.sha256 in live_blobs]
            if len(live) == len(entries):
                keep[pack_id] = entries
                continue
            doomed.append(pack_id)
            stats.blobs_removed += len(entries) - len(live)
            if live:
                stats.packs_repacked += 1
                # A bundle's live members go into one bundle again.
                async for group in repo.read_stored([e.sha256 for e in live]):
                    await session.add_bundle(group)
            await progress(1, size, pack_key(pack_id))
        new_packs = await session.commit()
    except BaseException:
        await session.abort()
        raise
    keep.update(new_packs)
    # Packs are named by their content, so repacking the same live blobs as a
    # prune that died before its index was written gives the very pack that
    # prune left behind, found unindexed above and doomed. It is live again.
    for pack_id in [p for p in doomed if p in new_packs]:
        doomed.remove(pack_id)
        if pack_id not in indexed:
            stats.bytes_freed -= stored[pack_id]
    if doomed or len(old_index_keys) > 1:
        data = encode_index(keep)
        digest = hashlib.sha256(data).hexdigest()
        await repo.write_document(f"index/{digest}", data)
        consolidated = f"index/{digest}"
        for key in await repo.store.list("index/"):
            if key.key != consolidated:
                await repo.store.delete(key.key)
                stats.index_objects_replaced += 1
    for pack_id in doomed:
        if pack_id in indexed:
            stats.bytes_freed += stored[pack_id]
        await repo.store.delete(pack_key(pack_id))
        stats.packs_deleted += 1
    stats.bytes_freed -= sum(stored_bytes(entries) for entries in new_packs.values())
    for prefix in ("manifests/", "keys/"):
        for info in await repo.store.list(prefix):
            if info.key not in live_documents:
                await repo.store.delete(info.key)
                stats.documents_deleted += 1
    await repo.reload()
    return stats
