"""The backup manifest: building it from a snapshot and reading it back.

Secrets go into the manifest sealed under the backup's own data key, with the
backup name and field as associated data; the data key itself is stored only
wrapped by the master key (``keys/{environment}/{backup}``), which it names by
its key id. Deleting that key object makes the backup's secrets unrecoverable.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import zlib
from array import array
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

from google.protobuf.message import DecodeError

from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import manifest_pb2 as mf_pb
from stowage.v1 import repository_pb2
from stowage_storage.chunker import Chunk
from stowage_storage.crypto import (
    DecryptionFailed,
    MasterKey,
    Sealed,
    seal,
    unseal,
    unwrap_data_key,
    wrap_data_key,
)
from stowage_storage.keyring import KeyRing
from stowage_storage.repository import CorruptObject, Repository
from stowage_storage.scratch import ScratchFile
from stowage_storage.wire import split_repeated

from . import names
from .settings import PLAIN_FIELDS, SECRET_FIELDS

# What the items of one manifest may add up to: far beyond any environment,
# and within the 64-bit sizes that restore results report.
MAX_TOTAL_BYTES = 1 << 62

# Format 2 stores the items in blocks (item_blocks); format 1 lists them inline.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)


def seal_settings(
    data_key: bytes, backup: str, plain: env_pb.EnvironmentSettings
) -> mf_pb.ManifestSettings:
    out = mf_pb.ManifestSettings(
        scale_units=plain.scale_units,
        product_version=plain.product_version,
        access_control_namespace=plain.access_control_namespace,
    )
    for name in SECRET_FIELDS:
        if plain.HasField(name) and getattr(plain, name).value:
            s = seal(data_key, getattr(plain, name).value, _aad(backup, name))
            out.secrets[name].CopyFrom(mf_pb.EncryptedValue(nonce=s.nonce, ciphertext=s.ciphertext))
    return out


def open_settings(
    data_key: bytes, backup: str, stored: mf_pb.ManifestSettings
) -> env_pb.EnvironmentSettings:
    out = env_pb.EnvironmentSettings()
    for name in PLAIN_FIELDS:
        setattr(out, name, getattr(stored, name))
    for name, enc in stored.secrets.items():
        if name not in SECRET_FIELDS:
            continue
        value = unseal(data_key, Sealed(enc.nonce, enc.ciphertext), _aad(backup, name))
        getattr(out, name).value = value
    return out


def wrap(keys: KeyRing | MasterKey, key_id: str, data_key: bytes) -> bytes:
    """The stored form of a data key: wrapped by the current master key, named."""
    master = KeyRing.of(keys).current
    s = wrap_data_key(master, key_id, data_key)
    return repository_pb2.WrappedKey(
        key_id=key_id, nonce=s.nonce, ciphertext=s.ciphertext, master_key_id=master.key_id
    ).SerializeToString()


def unwrap(keys: KeyRing | MasterKey, raw: bytes, expected_key_id: str) -> bytes:
    """Opens a data key with the master key that wrapped it (any key held, for
    keys wrapped before key ids were recorded)."""
    ring = KeyRing.of(keys)
    try:
        w = repository_pb2.WrappedKey.FromString(raw)
    except DecodeError as e:
        raise ValueError(f"the wrapped data key is unreadable: {e}") from e
    if w.key_id != expected_key_id:
        # (ids read from storage, cut short: a forged one may be any length)
        raise ValueError(
            f"data key {w.key_id[:80]!r} is not the manifest's key {expected_key_id[:80]!r}"
        )
    sealed = Sealed(w.nonce, w.ciphertext)
    if w.master_key_id:
        master = ring.by_id(w.master_key_id)
        if master is None:
            raise DecryptionFailed(
                f"data key {w.key_id[:80]!r} is wrapped by master key {w.master_key_id[:80]!r},"
                " which this server does not hold"
            )
        return unwrap_data_key(master, w.key_id, sealed)
    *others, last = ring.all()
    for master in others:
        try:
            return unwrap_data_key(master, w.key_id, sealed)
        except DecryptionFailed:
            continue
    return unwrap_data_key(last, w.key_id, sealed)


def encode_item(
    kind: int,
    artifact_id: str,
    sha256: bytes,
    size: int,
    metadata: dict[str, str],
    chunks: list[Chunk] | None,
    update_time: float,
) -> bytes:
    """One artifact's ManifestItem, encoded once, when the artifact is written."""
    item = mf_pb.ManifestItem(
        kind=kind, id=artifact_id, sha256=sha256, size_bytes=size, metadata=metadata
    )
    item.update_time.FromNanoseconds(int(update_time * 1e9))
    if chunks and len(chunks) > 1:
        item.chunks.extend(mf_pb.BlobRef(sha256=c.sha256, size_bytes=c.length) for c in chunks)
    return item.SerializeToString(deterministic=True)


# ManifestItem is field 8 of BackupManifest, length-delimited: tag (8 << 3) | 2.
_ITEMS_FIELD = 8
_ITEMS_TAG = bytes([(_ITEMS_FIELD << 3) | 2])


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


# A block ends after an item whose CRC-32 has these bits clear (one in 32 on
# average, a few KiB of items), or once it holds BLOCK_BYTES. Cut by the items'
# own bytes, blocks line up again right after a changed item: a backup with
# nothing changed stores no block, and a changed artifact the one it falls in
# (with 1% of 20,000 artifacts changed, about a quarter of the blocks).
_BLOCK_MASK = 31
BLOCK_BYTES = 64 * 1024


def item_blocks(items: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Encoded items grouped into blocks, each with its SHA-256: a block is a
    run of BackupManifest's items field. Blocking (hashing); steps may run in
    different worker threads, one at a time."""
    block = bytearray()
    for item in items:
        block += _ITEMS_TAG
        block += _varint(len(item))
        block += item
        if zlib.crc32(item) & _BLOCK_MASK == 0 or len(block) >= BLOCK_BYTES:
            yield hashlib.sha256(block).digest(), bytes(block)
            block.clear()
    if block:
        yield hashlib.sha256(block).digest(), bytes(block)


async def read(
    repo: Repository, sha256_hex: str, spool: ItemSpool | None = None
) -> tuple[bytes, mf_pb.BackupManifest, Sequence[mf_pb.ManifestItem]]:
    """A manifest as stored (the bytes its digest names), its header (every
    field but the items) and its items: inline in format 1, read from its item
    blocks in format 2, each block checked against its digest. With ``spool``,
    a format 2 manifest's items are kept there instead of in memory. Raises
    CorruptObject for a missing or damaged document or block, DecodeError for
    bytes that are no manifest."""
    stored = await repo.get_manifest(sha256_hex)
    header, items = split(stored)
    if not header.item_blocks:
        if spool is not None:
            spool.close()
        return stored, header, items
    if len(items):
        raise DecodeError("a manifest lists items both inline and in blocks")
    digests = [bytes(b.sha256) for b in header.item_blocks]
    blocks = bytearray()
    block_ends = array("Q")  # where each block ends in ``blocks``
    try:
        try:
            async for _, block in repo.read_blobs(digests):
                blocks += block
                block_ends.append(len(blocks))
                if spool is not None and len(blocks) >= _SPOOL_BATCH:
                    await spool.add(bytes(blocks), block_ends)
                    blocks.clear()
                    block_ends = array("Q")
        except CorruptObject as e:
            raise CorruptObject(
                f"manifests/{sha256_hex}: a block of its items: {e}", e.key, e.sha256
            ) from e
        if spool is not None:
            await spool.add(bytes(blocks), block_ends)
            return stored, header, spool
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    starts, ends = split_blocks(blocks, block_ends)
    return stored, header, ManifestItems(blocks, starts, ends)


def split_blocks(
    blocks: bytes | bytearray, block_ends: Sequence[int]
) -> tuple[array[int], array[int]]:
    """Where each item of consecutive item blocks starts and ends. Raises
    DecodeError unless every block holds whole items and nothing else: read
    whole or a batch at a time, a manifest's blocks then mean the same."""
    other, starts, ends = split_repeated(blocks, _ITEMS_FIELD)
    if other:
        raise DecodeError("an item block holds more than items")
    for end in block_ends:
        i = bisect.bisect_left(ends, end)
        if end and (i == len(ends) or ends[i] != end):
            raise DecodeError("an item runs past the end of its block")
    return starts, ends


# Item blocks written to a spool at a time, and read back from it at a time.
_SPOOL_BATCH = 1 << 20


class ItemSpool(Sequence[mf_pb.ManifestItem]):
    """A manifest's items in a scratch file, parsed when asked for. A restore
    walks its items three times (its checks, its reads, the rows it writes):
    held in memory, they were the largest thing a restore of many artifacts
    kept (about 100 bytes an artifact, 8 MB at 80,000), and what made its
    memory grow with the environment.

    ``run`` runs blocking calls (the writes) off the event loop."""

    def __init__(
        self, directory: str, run: Callable[[Callable[[], None]], Awaitable[None]]
    ) -> None:
        self._run = run
        self._file = ScratchFile(directory)
        # The items are kept back to back, without their framing: item i
        # ends at _ends[i] and starts where item i - 1 ends.
        self._ends = array("Q")

    async def add(self, blocks: bytes, block_ends: Sequence[int]) -> None:
        """Adds item blocks (whole items, back to back; each block ending at
        one of ``block_ends``), in a worker thread."""
        await self._run(functools.partial(self._append, blocks, block_ends))

    def _append(self, blocks: bytes, block_ends: Sequence[int]) -> None:
        starts, ends = split_blocks(blocks, block_ends)
        view = memoryview(blocks)
        self._file.append(b"".join(view[s:e] for s, e in zip(starts, ends, strict=True)))
        at = self._ends[-1] if self._ends else 0
        for s, e in zip(starts, ends, strict=True):
            at += e - s
            self._ends.append(at)

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> mf_pb.ManifestItem:  # type: ignore[override]
        if i < 0:
            i += len(self._ends)
        start = self._ends[i - 1] if i else 0
        return mf_pb.ManifestItem.FromString(self._file.read(start, self._ends[i] - start))

    def __iter__(self) -> Iterator[mf_pb.ManifestItem]:
        parse, read = mf_pb.ManifestItem.FromString, self._file.read
        window, at = memoryview(b""), 0
        start = 0
        for end in self._ends:
            if end > at + len(window):
                window = memoryview(read(start, max(_SPOOL_BATCH, end - start)))
                at = start
            yield parse(window[start - at : end - at])
            start = end


class ManifestItems(Sequence[mf_pb.ManifestItem]):
    """A manifest's items, each parsed from the manifest's bytes when it is
    asked for (about half a microsecond): parsed all at once, a manifest takes
    about five times its size, and a restore of many artifacts would hold it
    for its whole length."""

    def __init__(self, data: bytes | bytearray, starts: array[int], ends: array[int]) -> None:
        self._data = memoryview(data)
        self._starts = starts
        self._ends = ends

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, i: int) -> mf_pb.ManifestItem:  # type: ignore[override]
        return mf_pb.ManifestItem.FromString(self._data[self._starts[i] : self._ends[i]])

    def __iter__(self) -> Iterator[mf_pb.ManifestItem]:
        parse, data = mf_pb.ManifestItem.FromString, self._data
        for start, end in zip(self._starts, self._ends, strict=True):
            yield parse(data[start:end])


def split(data: bytes) -> tuple[mf_pb.BackupManifest, ManifestItems]:
    """A manifest's header (every field but its items) and its items, read
    lazily. Raises DecodeError, as parsing it whole would, on bytes that are
    not a manifest."""
    header, starts, ends = split_repeated(data, _ITEMS_FIELD)
    return mf_pb.BackupManifest.FromString(header), ManifestItems(data, starts, ends)


def blob_refs(item: mf_pb.ManifestItem) -> list[tuple[bytes, int]]:
    """The blobs holding an item's content, in order: its chunks, or itself whole."""
    if item.chunks:
        return [(bytes(c.sha256), c.size_bytes) for c in item.chunks]
    return [(bytes(item.sha256), item.size_bytes)]


def item_label(item: mf_pb.ManifestItem) -> str:
    """How errors and reports name an item: its collection and id."""
    return names.artifact_label(item.kind, item.id)


def named_blobs(
    header: mf_pb.BackupManifest, items: Iterable[mf_pb.ManifestItem]
) -> Iterator[tuple[mf_pb.ManifestItem | None, bytes, int]]:
    """Every blob a backup keeps alive, with its size and the item whose content
    it holds: the blocks of the items first (item None), then each item's."""
    for block in header.item_blocks:
        yield None, bytes(block.sha256), block.size_bytes
    for item in items:
        for digest, size in blob_refs(item):
            yield item, digest, size


def _aad(backup: str, field: str) -> bytes:
    return f"{backup}/{field}".encode()


def invalid(m: mf_pb.BackupManifest, items: Iterable[mf_pb.ManifestItem] | None = None) -> str:
    """Why a manifest read from the repository cannot be restored as it stands,
    or ''. A manifest is data from storage: an item the API could not name
    (unknown kind, an id such as '..') or contradicting itself would otherwise
    become an artifact no call can read, list or delete."""
    # Backups list items in (kind, id) order, so a repeat shows as an item not
    # after the one before it; only a manifest out of that order (another
    # writer's) is checked against a set of every item.
    items = m.items if items is None else items
    previous: tuple[int, str] | None = None
    ordered = True
    total = 0
    for i, item in enumerate(items):
        where = f"item {i} ({item.kind}, {item.id[:80]!r})"
        if item.kind not in names.COLLECTIONS:
            return f"{where}: unknown artifact kind"
        if not names.is_artifact_id(item.id):
            return f"{where}: not an artifact id"
        key = (item.kind, item.id)
        if previous is not None and key <= previous:
            ordered = False
        previous = key
        if len(item.sha256) != 32 or item.size_bytes < 0:
            return f"{where}: bad digest or size"
        total += item.size_bytes
        if total > MAX_TOTAL_BYTES:  # restore results add sizes up in 64-bit fields
            return f"{where}: the items' sizes add up to more than {MAX_TOTAL_BYTES} bytes"
        if item.chunks and (
            any(len(c.sha256) != 32 or c.size_bytes < 0 for c in item.chunks)
            or sum(c.size_bytes for c in item.chunks) != item.size_bytes
        ):
            return f"{where}: chunks do not add up to the item"
    if not ordered:
        seen: set[tuple[int, str]] = set()
        for i, item in enumerate(items):
            if (item.kind, item.id) in seen:
                return f"item {i} ({item.kind}, {item.id[:80]!r}): listed twice"
            seen.add((item.kind, item.id))
    for c in m.control_numbers:
        if not names.is_artifact_id(c.agreement.rsplit("/", 1)[-1]):
            return f"control numbers of {c.agreement[:80]!r}: not an agreement"
    return ""


# kind, id, sha256, size, metadata, update time, encoded ManifestItem
ArtifactRow = tuple[int, str, bytes, int, dict[str, str], float, bytes]


def artifact_rows(items: Iterable[mf_pb.ManifestItem]) -> Iterator[ArtifactRow]:
    """Registry rows of manifest items, made one at a time as the insert takes
    them: a restore of many artifacts never holds them all twice over."""
    for i in items:
        yield (
            i.kind,
            i.id,
            bytes(i.sha256),
            i.size_bytes,
            dict(i.metadata),
            i.update_time.ToNanoseconds() / 1e9,
            i.SerializeToString(deterministic=True),
        )
