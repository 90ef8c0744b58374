"""The content-addressed repository, over any ObjectStore.

Objects (see README, "Repository format"):

    config                       RepositoryConfig, written once
    packs/{xx}/{sha256}          stored blobs and a trailer listing them
    index/{sha256}               which pack holds which blob
    manifests/{sha256}           a backup's manifest (digest of its plaintext)
    keys/{environment}/{backup}  a backup's wrapped data key
    backups/{environment}/{id}   the backup record: makes a backup visible

The repository knows nothing of environments beyond those key names: it stores
and returns bytes by digest and commits documents atomically.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import re
import secrets
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import zstandard
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from stowage.v1 import repository_pb2

from . import heap, repokeys
from .chunker import DEFAULT_AVERAGE, DEFAULT_THRESHOLD, Chunker
from .codec import Codec, CodecError
from .crypto import MasterKey
from .index import DigestSet, Index, Location, PackEntries, encode_index
from .keyring import KeyRing
from .locks import Locks
from .pack import (
    TARGET_PACK_BYTES,
    TARGET_PACK_ENTRIES,
    BlobDecoder,
    BlobMismatch,
    Entry,
    PackBuilder,
    pack_key,
    parse_trailer,
    trailer_length,
)
from .ratelimit import RateLimiter
from .store import ObjectExists, ObjectNotFound, ObjectStore
from .wire import split_repeated

# Format 2: manifests may keep their items in blobs (item blocks); format 3:
# small blobs may be stored in bundles. An older repository is read as it is,
# and raised to 3 before this server writes a manifest or indexes a bundle.
FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)
# Adjacent blobs of one pack are fetched in one ranged read of at most this.
_MAX_READ = 8 * 1024 * 1024
# Index bytes loaded in one refresh past which freed memory is given back.
_RELEASE_AFTER = 1024 * 1024
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
T = TypeVar("T")


class RepositoryError(Exception):
    pass


class CorruptObject(RepositoryError):
    """A stored object is missing, unreadable or does not match its digest."""

    def __init__(self, message: str, key: str = "", sha256: bytes = b"") -> None:
        super().__init__(message)
        self.key = key
        self.sha256 = sha256


class WrongKey(RepositoryError):
    pass


class RecordExists(RepositoryError):
    pass


class RecordNotFound(RepositoryError):
    pass


class SourceChanged(RepositoryError):
    """Data handed to a write session does not match the digest it came with."""


@dataclass(frozen=True)
class RecordRef:
    environment: str
    backup_id: str


class Repository:
    def __init__(
        self,
        store: ObjectStore,
        config: repository_pb2.RepositoryConfig,
        codec: Codec,
        executor: Executor | None,
        scratch_dir: str | None = None,
    ) -> None:
        self.store = store
        # Set for local disk: a run of a pack is read and decoded in one worker
        # call, one thread hop a run instead of two.
        self._read_now = store.blocking_reader()
        self.config = config
        self.codec = codec
        self.chunker = Chunker(config.chunk_average_bytes, config.chunk_threshold_bytes)
        # Where the index keeps its entries (a nameless file; None: the
        # system's temporary directory).
        self.scratch_dir = scratch_dir
        self.index = Index(scratch_dir)
        self._executor = executor
        self._refresh_lock = asyncio.Lock()
        self.upload_limit = RateLimiter(0)
        self.locks = Locks(store)
        self._dictionaries: set[str] = set()

    # -- opening --------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        store: ObjectStore,
        master: MasterKey | KeyRing,
        *,
        executor: Executor | None = None,
        create: bool = True,
        encrypt_all: bool = False,
        scratch_dir: str | None = None,
    ) -> Repository:
        """Opens the repository, creating it when absent; checks the key. With
        ``encrypt_all`` a new repository gets a content key (see repokeys.py)."""
        keys = KeyRing.of(master)
        try:
            raw = await store.read("config")
        except ObjectNotFound:
            if not create:
                raise RepositoryError(f"no repository at {store.describe()}") from None
            raw = await _create_config(store, keys.current, encrypt_all)
        try:
            config = repository_pb2.RepositoryConfig.FromString(raw)
        except Exception as e:
            raise CorruptObject(f"repository config is unreadable: {e}", "config") from e
        if config.format_version not in READABLE_FORMATS:
            raise _unreadable_format(config.format_version)
        try:
            content_key = repokeys.unlock(config, keys, encrypt_all, store.describe())
        except repokeys.KeyMismatch as e:
            raise WrongKey(str(e)) from None
        except repokeys.EncryptionNotEnabled as e:
            raise RepositoryError(str(e)) from None
        repo = cls(store, config, Codec(level=3, content_key=content_key), executor, scratch_dir)
        await repo.refresh()
        return repo

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    # -- blobs ----------------------------------------------------------------

    async def refresh(self) -> None:
        """Loads index objects and dictionaries written since the last refresh
        (by any process)."""
        await self._load_dictionaries()
        listed = await self.store.list("index/")
        names = {info.key.rsplit("/", 1)[-1] for info in listed}
        if self.index.loaded - names:
            # A prune consolidated the index (and may have deleted packs it named):
            # entries learnt before it are no longer safe to trust.
            await self.reload()
            return
        async with self._refresh_lock:
            loaded = 0
            for info in listed:
                if info.key.rsplit("/", 1)[-1] not in self.index.loaded:
                    loaded += await self.load_index_object(self.index, info.key)
            if loaded > _RELEASE_AFTER:
                # Reading index objects leaves their bytes and parses freed behind.
                await self._run(heap.release)

    async def reload(self) -> list[str]:
        """Forgets the in-memory index and reads every index object again;
        returns their keys. Maintenance uses this rather than trusting memory."""
        await self._load_dictionaries()
        async with self._refresh_lock:
            fresh = Index(self.scratch_dir)
            keys = []
            for info in await self.store.list("index/"):
                await self.load_index_object(fresh, info.key)
                keys.append(info.key)
            self.index = fresh
            await self._run(heap.release)
            return keys

    async def load_index_object(self, index: Index, key: str) -> int:
        """Adds one index object's packs to ``index``, all or none (a damaged
        object raises CorruptObject first); returns its size."""
        data = await self.read_document(key, named_digest(key))
        for p in index_packs(key, data):
            index.add_pack(p.pack, p.entries)
        index.loaded.add(key.rsplit("/", 1)[-1])
        return len(data)

    # -- dictionaries -----------------------------------------------------------

    async def _load_dictionaries(self) -> None:
        for info in await self.store.list("dicts/"):
            name = info.key.rsplit("/", 1)[-1]
            if name not in self._dictionaries:
                raw = await self.read_document(info.key)
                self.codec.add_dictionary(raw)
                self._dictionaries.add(name)

    async def add_dictionary(self, samples: list[bytes]) -> None:
        """Trains a compression dictionary for small artifacts and stores it as
        ``dicts/{id}`` before any blob that uses it can be written. Kept for good:
        blobs name it, and prune never deletes it."""
        raw = await self._run(lambda: Codec.train(samples))
        name = f"{zstandard.ZstdCompressionDict(raw).dict_id():08x}"
        try:
            await self.write_document(f"dicts/{name}", raw, exclusive=True)
        except ObjectExists:
            raw = await self.read_document(f"dicts/{name}")
        self.codec.add_dictionary(raw)
        self._dictionaries.add(name)

    async def pack_entries(self, pack_id: str) -> list[Entry]:
        """A pack's blobs, from its own trailer (not the index)."""
        key = pack_key(pack_id)
        size = (await self.store.stat(key)).size
        tail = await self.store.read(key, max(0, size - 64 * 1024))
        try:
            need = trailer_length(tail)
            if need > len(tail):
                tail = await self.store.read(key, max(0, size - need))
            return await self._run(lambda: parse_trailer(self.codec, tail, size))
        except (ValueError, CodecError) as e:
            raise CorruptObject(f"{key} has an unreadable trailer: {e}", key) from e

    def has_blob(self, sha256: bytes) -> bool:
        return sha256 in self.index

    def session(
        self,
        max_packs_in_flight: int = 2,
        *,
        ignore_index: bool = False,
        index_every: int = 0,
    ) -> WriteSession:
        """A write session; ``ignore_index`` stores blobs even when some pack
        already holds them (prune moves live blobs out of packs it deletes);
        ``index_every`` indexes the packs written so far each time that many
        are (see WriteSession)."""
        return WriteSession(self, max_packs_in_flight, ignore_index, index_every)

    async def read_blob(self, sha256: bytes) -> bytes:
        async for _, data in self.read_blobs([sha256]):
            return data
        raise AssertionError("unreachable")

    async def read_blobs(
        self, digests: Iterable[bytes], *, depth: int = 3
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        """Yields (digest, plaintext) in the order asked, each verified; see read_runs."""
        runs = self.read_runs(((d, True) for d in digests), depth=depth)
        try:
            async for run in runs:
                for item in run:
                    yield item
        finally:
            await runs.aclose()

    async def read_stored(self, digests: list[bytes]) -> AsyncIterator[list[tuple[bytes, bytes]]]:
        """Yields (digest, plaintext) in the order asked, each verified, in
        lists of neighbours read from one stored object: a bundle's members
        together, a single blob alone. A copy stores each list as it was."""
        group: list[tuple[bytes, bytes]] = []
        group_at: tuple[str, int] | None = None
        blobs = self.read_blobs(digests)
        try:
            async for digest, data in blobs:
                loc = self.index.get(digest)
                at = (loc.pack, loc.offset) if loc is not None else None
                if group and (at is None or at != group_at):
                    yield group
                    group = []
                group.append((digest, data))
                group_at = at
            if group:
                yield group
        finally:
            await blobs.aclose()  # type: ignore[attr-defined]

    async def read_runs(
        self, blobs: Iterable[tuple[bytes, bool]], *, depth: int = 3
    ) -> AsyncGenerator[list[tuple[bytes, bytes]], None]:
        """Yields lists of (digest, plaintext) for (digest, check) pairs, in the
        order asked. A blob is verified against its digest when ``check``; a
        caller passes False for pieces of content it hashes whole anyway
        (hashing each piece too would hash those bytes twice).

        Adjacent blobs of a pack are read together, one list per read, and up to
        ``depth`` reads run ahead of the consumer. Reads are planned as they go,
        so memory does not grow with the number of blobs. Raises CorruptObject
        for a missing or bad blob.
        """
        runs = self._plan_reads(blobs)
        # Finished reads are dropped as soon as they are consumed: a task keeps
        # its result, and holding every task would hold every blob.
        ahead: collections.deque[asyncio.Task[list[tuple[bytes, bytes]]]] = collections.deque()
        try:
            planned = True
            while planned or ahead:
                while planned and len(ahead) < depth:
                    run = next(runs, None)
                    if run is None:
                        planned = False
                    else:
                        ahead.append(asyncio.ensure_future(self._read_run(run)))
                if not ahead:
                    break
                task = ahead.popleft()
                result = await task
                del task
                yield result
                del result
        finally:
            for t in ahead:
                t.cancel()

    def _plan_reads(
        self, blobs: Iterable[tuple[bytes, bool]]
    ) -> Iterator[list[tuple[bytes, Location, bool]]]:
        run: list[tuple[bytes, Location, bool]] = []
        plain = 0
        for d, check in blobs:
            loc = self.index.get(d)
            if loc is None:
                raise CorruptObject(f"blob {d.hex()} is in no pack", "", d)
            if run:
                first = run[0][1]
                prev = run[-1][1]
                plain += loc.raw_length
                if (
                    prev.pack == loc.pack
                    # the next stored object, or another member of the same bundle
                    and loc.offset in (prev.offset + prev.length, prev.offset)
                    and loc.offset + loc.length - first.offset <= _MAX_READ
                    # Decompressed, text is four times larger: read-ahead memory
                    # is bounded by what the reads become, not what they read.
                    and plain <= _MAX_READ
                ):
                    run.append((d, loc, check))
                    continue
                yield run
            run = [(d, loc, check)]
            plain = loc.raw_length
        if run:
            yield run

    async def _read_run(self, run: list[tuple[bytes, Location, bool]]) -> list[tuple[bytes, bytes]]:
        first = run[0][1]
        last = run[-1][1]
        key = pack_key(first.pack)
        length = last.offset + last.length - first.offset
        read_now = self._read_now

        def decode(data: bytes | None) -> list[tuple[bytes, bytes]]:
            if data is None:
                assert read_now is not None
                data = read_now(key, first.offset, length)
            if len(data) != length:
                raise CorruptObject(f"pack {key} is truncated", key, run[0][0])
            out = []
            view = memoryview(data)
            decoder = BlobDecoder(self.codec)
            for digest, loc, check in run:
                start = loc.offset - first.offset
                try:
                    plain = decoder.decode(
                        view[start : start + loc.length],
                        (loc.offset, loc.length),
                        digest,
                        loc.raw_length,
                        loc.bundle_offset,
                        check,
                    )
                except CodecError as e:
                    raise CorruptObject(
                        f"blob {digest.hex()} in {key} is unreadable: {e}", key, digest
                    ) from e
                except BlobMismatch as e:
                    raise CorruptObject(f"blob {digest.hex()} in {key} {e}", key, digest) from e
                out.append((digest, plain))
            return out

        try:
            fetched = None if read_now else await self.store.read(key, first.offset, length)
            return await self._run(lambda: decode(fetched))
        except ObjectNotFound as e:
            raise CorruptObject(f"pack {key} is missing", key, run[0][0]) from e

    # -- documents: manifests, records, keys ----------------------------------

    async def write_document(
        self, key: str, data: bytes | bytearray, *, exclusive: bool = False
    ) -> None:
        stored = await self._run(lambda: self.codec.encode(data, key.encode()))
        await self.store.write(key, stored, exclusive=exclusive)

    async def read_document(self, key: str, sha256: bytes | None = None) -> bytes:
        """Reads a document; with ``sha256``, checks the plaintext against it."""
        try:
            stored = await self.store.read(key)
        except ObjectNotFound as e:
            raise CorruptObject(f"{key} is missing", key) from e

        def decode() -> bytes:
            try:
                data = self.codec.decode(stored, key.encode())
            except CodecError as e:
                raise CorruptObject(f"{key} is unreadable: {e}", key) from e
            if sha256 is not None and hashlib.sha256(data).digest() != sha256:
                raise CorruptObject(f"{key} does not match its digest", key)
            return data

        return await self._run(decode)

    async def put_manifest(self, data: bytes | bytearray) -> str:
        await self._raise_format()
        digest = hashlib.sha256(data).hexdigest()
        await self.write_document(f"manifests/{digest}", data)
        return digest

    async def _raise_format(self) -> None:
        """Brings an older repository to this server's format before the first
        manifest it writes or bundle it indexes: a format 2 manifest keeps its
        items in blobs, which a format 1 server would not see (and its prune
        would delete); a format 2 server cannot read a bundle. Read as late as
        possible, so that a key change made meanwhile is kept."""
        if self.config.format_version >= FORMAT_VERSION:
            return
        config = await self._read_config()
        if config.format_version < FORMAT_VERSION:
            config.format_version = FORMAT_VERSION
            await self.store.write("config", config.SerializeToString())
        self.config = config

    async def reload_config(self) -> None:
        """Reads the config again, for a change that rewrites it from what this
        server holds (a key rotation): another server may have raised the
        format since this one opened the repository, and writing back the
        older format would let format 1 servers in, whose prune deletes what
        they cannot see."""
        config = await self._read_config()
        if config.repository_id != self.config.repository_id:
            raise RepositoryError("the repository was replaced since this server opened it")
        if config.format_version not in READABLE_FORMATS:
            raise _unreadable_format(config.format_version)
        self.config = config

    async def _read_config(self) -> repository_pb2.RepositoryConfig:
        raw = await self.store.read("config")
        try:
            return repository_pb2.RepositoryConfig.FromString(raw)
        except DecodeError as e:
            raise CorruptObject(f"repository config is unreadable: {e}", "config") from e

    async def get_manifest(self, sha256_hex: str) -> bytes:
        if not _SHA256_HEX.match(sha256_hex):  # it came from a record, which may be damaged
            raise CorruptObject(f"the manifest digest {sha256_hex[:80]!r} is not a SHA-256")
        return await self.read_document(f"manifests/{sha256_hex}", bytes.fromhex(sha256_hex))

    async def put_data_key(self, ref: RecordRef, wrapped: bytes) -> None:
        await self.write_document(f"keys/{ref.environment}/{ref.backup_id}", wrapped)

    async def get_data_key(self, ref: RecordRef) -> bytes:
        return await self.read_document(f"keys/{ref.environment}/{ref.backup_id}")

    async def put_record(self, ref: RecordRef, data: bytes) -> None:
        """Makes a backup visible; create-if-absent, so a record is never replaced."""
        try:
            await self.write_document(_record_key(ref), data, exclusive=True)
        except ObjectExists as e:
            raise RecordExists(f"backup record {_record_key(ref)} exists") from e

    async def get_record(self, ref: RecordRef) -> bytes:
        try:
            stored = await self.store.read(_record_key(ref))
        except ObjectNotFound as e:
            raise RecordNotFound(f"no backup {ref.environment}/{ref.backup_id}") from e
        try:
            return await self._run(lambda: self.codec.decode(stored, _record_key(ref).encode()))
        except CodecError as e:
            raise CorruptObject(f"{_record_key(ref)} is unreadable: {e}", _record_key(ref)) from e

    async def list_records(self, environment: str | None = None) -> list[RecordRef]:
        prefix = f"backups/{environment}/" if environment else "backups/"
        refs = []
        for info in await self.store.list(prefix):
            parts = info.key.split("/")
            if len(parts) == 3:
                refs.append(RecordRef(parts[1], parts[2]))
        return refs

    async def delete_record(self, ref: RecordRef) -> None:
        try:
            await self.store.stat(_record_key(ref))
        except ObjectNotFound as e:
            raise RecordNotFound(f"no backup {ref.environment}/{ref.backup_id}") from e
        await self.store.delete(_record_key(ref))


def named_digest(key: str) -> bytes:
    """The digest an object is named by (index objects, manifests), checked."""
    name = key.rsplit("/", 1)[-1]
    if not _SHA256_HEX.match(name):
        raise CorruptObject(f"{key} is not named by a SHA-256", key)
    return bytes.fromhex(name)


def index_packs(key: str, data: bytes) -> Iterator[repository_pb2.IndexedPack]:
    """An index object's packs, checked before anything builds an object key
    or a read from them (pack names are SHA-256 hex, entries are in range):
    every pack before the first is yielded. Each is parsed only when reached,
    as a parsed index object takes several times its size."""
    view = memoryview(data)
    try:
        _, starts, ends = split_repeated(data, 1)  # IndexFile.packs
        for start, end in zip(starts, ends, strict=True):
            _check_pack(key, repository_pb2.IndexedPack.FromString(view[start:end]))
    except DecodeError as e:
        raise CorruptObject(f"{key} is not an index: {e}", key) from e
    for start, end in zip(starts, ends, strict=True):
        yield repository_pb2.IndexedPack.FromString(view[start:end])


def _check_pack(key: str, p: repository_pb2.IndexedPack) -> None:
    if not _SHA256_HEX.match(p.pack):
        raise CorruptObject(f"{key} names an invalid pack {p.pack[:80]!r}", key)
    for e in p.entries:
        if (
            len(e.sha256) != 32
            or e.offset < 0
            or e.length < 1
            or e.raw_length < 0
            or e.bundle_offset < 0
        ):
            raise CorruptObject(f"{key} has an invalid entry in pack {p.pack}", key)


def _record_key(ref: RecordRef) -> str:
    return f"backups/{ref.environment}/{ref.backup_id}"


def _unreadable_format(version: int) -> RepositoryError:
    return RepositoryError(
        f"repository format {version} is not supported "
        f"(this server reads formats {', '.join(map(str, READABLE_FORMATS))})"
    )


async def _create_config(store: ObjectStore, master: MasterKey, encrypt_all: bool) -> bytes:
    repo_id = secrets.token_hex(16)
    now = Timestamp()
    now.GetCurrentTime()
    config = repository_pb2.RepositoryConfig(
        format_version=FORMAT_VERSION,
        repository_id=repo_id,
        create_time=now,
        key_check=master.key_check(repo_id),
        chunk_average_bytes=DEFAULT_AVERAGE,
        chunk_threshold_bytes=DEFAULT_THRESHOLD,
    )
    if encrypt_all:
        repokeys.initial_content_key(config, master)
    raw = config.SerializeToString()
    try:
        await store.write("config", raw, exclusive=True)
    except ObjectExists:
        # Another process created it first; use theirs.
        return await store.read("config")
    return raw


# With ``index_every``, a session also indexes what it has written once that
# many blobs wait: packs of small blobs hold thousands each, and indexing
# sixteen of them at once held 134,000 entries (6 MB) in a backup of 80,000
# small artifacts.
_INDEX_ENTRIES = 32768


class WriteSession:
    """Stores new blobs in packs; nothing is indexed until ``commit``, or,
    with ``index_every``, until that many packs (or _INDEX_ENTRIES blobs) are
    written.

    Write order: packs first, then the index object that names them, and only
    then the in-memory index other sessions deduplicate against. A session that
    fails or is cancelled leaves unindexed packs, which prune reclaims (and, with
    ``index_every``, indexed packs no backup names, which prune reclaims too).
    Indexing as it goes keeps a long session's memory flat: what it has
    indexed leaves its claims and its list of written packs.
    """

    def __init__(
        self,
        repo: Repository,
        max_in_flight: int,
        ignore_index: bool = False,
        index_every: int = 0,
    ) -> None:
        self._repo = repo
        self._ignore_index = ignore_index
        self._index_every = index_every
        self._indexing = asyncio.Lock()
        # Blobs claimed and not yet indexed (DigestSet: a first backup claims
        # a blob per 16 KiB of content).
        self._claimed = DigestSet()
        self._builder = PackBuilder()
        # Entries of the packs written, kept packed for the index (a full
        # backup writes a blob per 16 KiB of new content).
        self._written = PackEntries()
        self._uploads: list[asyncio.Task[None]] = []
        self._slots = asyncio.Semaphore(max_in_flight)
        self.stored_bytes = 0
        self.blobs_added = 0
        self._bundles = False  # whether a bundle was added: the format must allow it

    def needs(self, sha256: bytes) -> bool:
        # The index first: a backup of unchanged content finds every blob there.
        if not self._ignore_index and sha256 in self._repo.index:
            return False
        return sha256 not in self._claimed

    def claim(self, sha256: bytes) -> bool:
        """Marks a blob as this session's to store; False when it needs no storing."""
        if not self.needs(sha256):
            return False
        self._claimed.add(sha256)
        return True

    def encode(self, sha256: bytes, data: bytes | memoryview, small: bool = False) -> bytes:
        """The stored form of a claimed blob, after checking it against its digest.
        Blocking: callers batch many blobs into one worker-thread call."""
        if hashlib.sha256(data).digest() != sha256:
            raise SourceChanged(f"content of blob {sha256.hex()} changed while reading it")
        return self._repo.codec.encode(data, sha256, small)

    def encode_bundle(self, blobs: list[tuple[bytes, bytes]]) -> bytes:
        """The stored form of claimed small blobs, (digest, data) in order, as one
        bundle (Codec.encode_bundle), after checking each against its digest.
        Blocking."""
        for sha256, data in blobs:
            if hashlib.sha256(data).digest() != sha256:
                raise SourceChanged(f"content of blob {sha256.hex()} changed while reading it")
        return self._repo.codec.encode_bundle([data for _, data in blobs])

    async def append(self, sha256: bytes, stored: bytes, raw_length: int) -> int:
        """Adds an encoded blob to the pack being built; writes full packs."""
        return await self.append_bundle([(sha256, raw_length)], stored)

    async def append_bundle(self, members: list[tuple[bytes, int]], stored: bytes) -> int:
        """Adds an encoded blob, or with several (digest, raw length) members a
        bundle of them (encode_bundle), to the pack being built; writes full packs."""
        self._raise_failed_upload()
        await self._repo.upload_limit.consume(len(stored))
        if len(members) == 1 and not self._repo.codec.is_bundle(stored):
            self._builder.add(members[0][0], stored, members[0][1])
        else:
            self._builder.add_bundle(members, stored)
            self._bundles = True
        self.stored_bytes += len(stored)
        self.blobs_added += len(members)
        if self._builder.size >= TARGET_PACK_BYTES or len(self._builder) >= TARGET_PACK_ENTRIES:
            await self._seal()
        return len(stored)

    async def add(self, sha256: bytes, data: bytes) -> int:
        """Stores a blob unless the repository or this session has it; returns
        the stored bytes added. Checks the data against its digest."""
        return await self.add_bundle([(sha256, data)])

    async def add_bundle(self, blobs: list[tuple[bytes, bytes]]) -> int:
        """Stores the blobs, (digest, data), that neither the repository nor
        this session has, as one bundle (one alone as a single blob); returns
        the stored bytes added. Checks each against its digest."""
        todo = [(d, data) for d, data in blobs if self.claim(d)]
        if not todo:
            return 0
        try:
            if len(todo) == 1:
                stored = await self._repo._run(lambda: self.encode(*todo[0]))
            else:
                stored = await self._repo._run(lambda: self.encode_bundle(todo))
        except BaseException:
            for d, _ in todo:
                self._claimed.discard(d)
            raise
        return await self.append_bundle([(d, len(data)) for d, data in todo], stored)

    def _raise_failed_upload(self) -> None:
        for t in self._uploads:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]

    async def _seal(self) -> None:
        builder, self._builder = self._builder, PackBuilder()
        await self._slots.acquire()
        self._uploads.append(asyncio.ensure_future(self._upload(builder)))

    async def _upload(self, builder: PackBuilder) -> None:
        try:
            pack_id, data = await self._repo._run(lambda: builder.finish(self._repo.codec))
            await self._repo.store.write(pack_key(pack_id), data)
            self._written.put(pack_id, builder.entries)
        finally:
            self._slots.release()
        written = self._written
        if self._index_every and (
            len(written) >= self._index_every or written.entry_count >= _INDEX_ENTRIES
        ):
            await self._index_written()

    async def end_pack(self) -> None:
        """Sends the pack being built to be written: what is added next goes to
        a pack of its own."""
        if len(self._builder):
            await self._seal()

    async def commit(self) -> Mapping[str, list[Entry]]:
        """Writes the last pack and the index naming the packs not indexed yet;
        returns those packs (all of the session's, without ``index_every``)."""
        await self.end_pack()
        await asyncio.gather(*self._uploads)
        return await self._index_written()

    async def _index_written(self) -> PackEntries:
        """Indexes the packs written so far: they are stored whole already."""
        async with self._indexing:
            written, self._written = self._written, PackEntries()
            if not written:
                return written
            if self._bundles:
                await self._repo._raise_format()
            data = encode_index(written)
            digest = hashlib.sha256(data).hexdigest()
            await self._repo.write_document(f"index/{digest}", data)
            index, claimed = self._repo.index, self._claimed
            for pack_id in written:
                entries = written[pack_id]
                index.add_pack(pack_id, entries)
                if not self._ignore_index:
                    # The index answers for them now.
                    for e in entries:
                        claimed.discard(e.sha256)
            index.loaded.add(digest)
            return written

    async def abort(self) -> None:
        for t in self._uploads:
            t.cancel()
        await asyncio.gather(*self._uploads, return_exceptions=True)
