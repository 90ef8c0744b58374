"""Hostile bytes in the repository: forged records, manifests, data keys, index
objects and packs, written straight into a running server's repository, then
read through it (list, get, restore, dry-run restore, verify, copy).

Forgeries range from random bytes, through mutated copies of real objects, to
well-formed documents with hostile fields (names with ``..``, unknown kinds,
digests of the wrong length, offsets past the end, negative sizes) that pass
every digest and key check, built by hypothesis from the message descriptors.

What must hold: no answer and no operation is UNKNOWN or INTERNAL, the server
keeps serving, no file appears outside its data directory, anything a forged
backup restores can be named through the API, and once the forgeries are gone
the real backups verify and restore byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from stowage.client import Client
from stowage.errors import StowageError
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import manifest_pb2 as mf_pb
from stowage.v1 import repository_pb2
from stowage_server import manifest as mf
from stowage_storage.codec import Codec
from stowage_storage.crypto import MasterKey, new_data_key
from stowage_storage.local import LocalStore
from stowage_storage.pack import pack_key
from stowage_storage.store import ObjectExists

from ..conftest import ServerProcess
from ..sample import provision_full
from .audit import Ledger, audit, listing
from .figures import Figures
from .filesystem_watch import FilesystemWatch
from .message_strategies import MessageStrategies, StringPool
from .offline_repository import OfflineRepository
from .scale import MB, Scale

BAD = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
VICTIM = "victim"
GHOST = "ghost"


@dataclass
class Material:
    """Real objects of the repository to copy, mutate and point at."""

    records: dict[str, bk_pb.Backup]
    manifests: dict[str, mf_pb.BackupManifest]
    stored_manifests: dict[str, bytes]
    blobs: list[bytes]
    packs: list[str]


@dataclass
class Forged:
    keys: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)


class Forger:
    def __init__(self, store: LocalStore, master: MasterKey, material: Material) -> None:
        self.store = store
        self.master = master
        self.material = material
        self.codec = Codec(level=3)
        self._ids = itertools.count(1)

    def put(self, forged: Forged, key: str, stored: bytes) -> None:
        """Writes a forged object, never over a real one (a mutation can decode
        to a real manifest, and so be named like it)."""
        try:
            asyncio.run(self.store.write(key, stored, exclusive=True))
        except ObjectExists:
            return
        forged.keys.append(key)

    def put_document(self, forged: Forged, key: str, plain: bytes) -> None:
        self.put(forged, key, self.codec.encode(plain, key.encode()))

    def remove(self, forged: Forged) -> None:
        async def remove() -> None:
            for key in forged.keys:
                await self.store.delete(key)

        asyncio.run(remove())

    def new_backup(self, env: str) -> tuple[str, str]:
        backup_id = f"20990101-000000-{next(self._ids):06x}"
        return f"environments/{env}/backups/{backup_id}", f"backups/{env}/{backup_id}"

    def record(
        self, forged: Forged, env: str, manifest_sha256: str, data_key: bytes | None
    ) -> None:
        """A record like a real one, under a new name, naming ``manifest_sha256``."""
        name, key = self.new_backup(env)
        real = next(iter(self.material.records.values()))
        record = bk_pb.Backup()
        record.CopyFrom(real)
        record.name = name
        record.manifest_sha256 = manifest_sha256
        if data_key is not None:
            self.put_document(forged, f"keys/{env}/{name.rsplit('/', 1)[1]}", data_key)
        self.put_document(forged, key, record.SerializeToString())
        forged.backups.append(name)

    def wrapped_key(self) -> tuple[str, bytes, bytes]:
        key_id, data_key = new_data_key()
        return key_id, data_key, mf.wrap(self.master, key_id, data_key)


Forgery = Any  # (Forger, st.DataObject, MessageStrategies) -> Forged


def random_manifest_bytes(f: Forger, data: st.DataObject, ms: MessageStrategies) -> Forged:
    forged = Forged()
    digest = data.draw(st.binary(min_size=32, max_size=32)).hex()
    f.put(forged, f"manifests/{digest}", data.draw(st.binary(max_size=2048)))
    f.record(forged, data.draw(st.sampled_from([VICTIM, GHOST])), digest, f.wrapped_key()[2])
    return forged


def mutated_manifest(f: Forger, data: st.DataObject, ms: MessageStrategies) -> Forged:
    forged = Forged()
    stored = bytearray(data.draw(st.sampled_from(sorted(f.material.stored_manifests.values()))))
    how = data.draw(st.sampled_from(["flip", "truncate", "extend", "flags"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(stored) - 1))
            stored[i] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "truncate":
        del stored[data.draw(st.integers(0, len(stored) - 1)) :]
    elif how == "extend":
        stored += data.draw(st.binary(min_size=1, max_size=256))
    else:
        stored[0] = data.draw(st.integers(0, 255))
    try:  # named by the digest of what it decodes to, when it decodes at all
        digest = hashlib.sha256(f.codec.decode(bytes(stored), b"")).hexdigest()
    except Exception:
        digest = hashlib.sha256(bytes(stored)).hexdigest()
    f.put(forged, f"manifests/{digest}", bytes(stored))
    f.record(forged, VICTIM, digest, f.wrapped_key()[2])
    return forged


def hostile_manifest(f: Forger, data: st.DataObject, ms: MessageStrategies) -> Forged:
    """Well-formed and correctly named and keyed: only its fields are hostile."""
    forged = Forged()
    manifest = data.draw(ms.message(mf_pb.BackupManifest.DESCRIPTOR))
    real_blobs = st.sampled_from(f.material.blobs)
    for item in manifest.items:
        if data.draw(st.booleans()):
            item.sha256 = data.draw(real_blobs)
        for chunk in item.chunks:
            if data.draw(st.booleans()):
                chunk.sha256 = data.draw(real_blobs)
    if data.draw(st.integers(0, 9)):
        manifest.format_version = mf.FORMAT_VERSION
    key_id, data_key, wrapped = f.wrapped_key()
    if data.draw(st.integers(0, 9)):
        manifest.data_key_id = key_id
    if data.draw(st.booleans()):
        real = next(iter(f.material.manifests.values()))
        manifest.settings.CopyFrom(real.settings)
    plain = manifest.SerializeToString()
    digest = hashlib.sha256(plain).hexdigest()
    f.put_document(forged, f"manifests/{digest}", plain)
    f.record(forged, data.draw(st.sampled_from([VICTIM, GHOST])), digest, wrapped)
    return forged


def hostile_item_field(f: Forger, data: st.DataObject, ms: MessageStrategies) -> Forged:
    """A real manifest, re-keyed, with one field of one item (or of the control
    numbers) made hostile: everything else restores."""
    forged = Forged()
    manifest = mf_pb.BackupManifest()
    manifest.CopyFrom(
        f.material.manifests[data.draw(st.sampled_from(sorted(f.material.manifests)))]
    )
    item = manifest.items[data.draw(st.integers(0, len(manifest.items) - 1))]
    which = data.draw(
        st.sampled_from(["id", "kind", "sha256", "size", "chunks", "twice", "agreement"])
    )
    if which == "id":
        item.id = data.draw(ms.strings.for_field("id"))
    elif which == "kind":
        item.kind = data.draw(st.integers(-3, 1000))
    elif which == "sha256":
        item.sha256 = data.draw(st.binary(max_size=40))
    elif which == "size":
        item.size_bytes = data.draw(st.integers(-(2**63), 2**63 - 1))
    elif which == "chunks":
        item.chunks.add(
            sha256=data.draw(st.sampled_from(f.material.blobs)),
            size_bytes=data.draw(st.integers(-5, 10**9)),
        )
    elif which == "twice":
        manifest.items.add().CopyFrom(item)
    elif manifest.control_numbers:
        manifest.control_numbers[0].agreement = data.draw(ms.strings.for_field("agreement"))
    key_id, _, wrapped = f.wrapped_key()
    manifest.data_key_id = key_id
    manifest.settings.Clear()  # the real settings are sealed under the real data key
    plain = manifest.SerializeToString()
    digest = hashlib.sha256(plain).hexdigest()
    f.put_document(forged, f"manifests/{digest}", plain)
    f.record(forged, VICTIM, digest, wrapped)
    return forged


def hostile_record(f: Forger, data: st.DataObject, ms: MessageStrategies) -> Forged:
    forged = Forged()
    env = data.draw(st.sampled_from([VICTIM, GHOST]))
    name, key = f.new_backup(env)
    record = data.draw(ms.message(bk_pb.Backup.DESCRIPTOR))
    if data.draw(st.booleans()):
        record.manifest_sha256 = data.draw(
            st.sampled_from([*f.material.manifests, "../../config", "config", "ZZ", "0" * 64])
        )
    if data.draw(st.booleans()):
        f.put(forged, key, data.draw(st.binary(max_size=512)))
    else:
        f.put_document(forged, key, record.SerializeToString())
    forged.backups.append(name)
    return forged


def hostile_data_key(f: Forger, data: st.DataObject, ms: MessageStrategies) -> Forged:
    forged = Forged()
    digest = data.draw(st.sampled_from(sorted(f.material.manifests)))
    wrapped = data.draw(
        st.one_of(
            st.binary(max_size=128),
            ms.message(repository_pb2.WrappedKey.DESCRIPTOR).map(lambda m: m.SerializeToString()),
        )
    )
    f.record(forged, VICTIM, digest, wrapped)
    return forged


def hostile_index(f: Forger, data: st.DataObject, ms: MessageStrategies) -> Forged:
    """An index naming real or hostile packs, with real or hostile entries; the
    real backups are then read through it."""
    forged = Forged()
    index = data.draw(ms.message(repository_pb2.IndexFile.DESCRIPTOR))
    for pack in index.packs:
        if data.draw(st.booleans()):
            pack.pack = data.draw(st.sampled_from(f.material.packs))
        for entry in pack.entries:
            if data.draw(st.booleans()):
                entry.sha256 = data.draw(st.sampled_from(f.material.blobs))
    plain = index.SerializeToString()
    f.put_document(forged, f"index/{hashlib.sha256(plain).hexdigest()}", plain)
    forged.backups.extend(sorted(f.material.records))
    return forged


def hostile_pack(f: Forger, data: st.DataObject, ms: MessageStrategies) -> Forged:
    """Random bytes as a pack, and an index that says real blobs are in it."""
    forged = Forged()
    body = data.draw(st.binary(min_size=1, max_size=4096))
    pack_id = hashlib.sha256(body).hexdigest()
    f.put(forged, pack_key(pack_id), body)
    entries = []
    for blob in data.draw(st.lists(st.sampled_from(f.material.blobs), min_size=1, max_size=4)):
        offset = data.draw(st.integers(0, len(body) - 1))
        length = data.draw(st.integers(1, len(body) - offset))
        entries.append(
            repository_pb2.PackEntry(
                sha256=blob,
                offset=offset,
                length=length,
                raw_length=data.draw(st.integers(0, 10**6)),
                # A member of a bundle, or not (the body's first byte says which it is).
                bundle_offset=data.draw(st.sampled_from([0, 1, 100, 10**6])),
            )
        )
    plain = repository_pb2.IndexFile(
        packs=[repository_pb2.IndexedPack(pack=pack_id, entries=entries)]
    ).SerializeToString()
    f.put_document(forged, f"index/{hashlib.sha256(plain).hexdigest()}", plain)
    forged.backups.extend(sorted(f.material.records))
    return forged


def stray_objects(f: Forger, data: st.DataObject, ms: MessageStrategies) -> Forged:
    """Objects under the repository's folders with names nothing there would
    give them (a stray copy, an editor's backup file), holding random bytes."""
    forged = Forged()
    segment = st.text("abcdefz0123456789._-", min_size=1, max_size=70).filter(
        lambda t: t not in (".", "..")
    )
    for _ in range(data.draw(st.integers(1, 3))):
        folder = data.draw(
            st.sampled_from(
                ["index", "manifests", "packs/ab", f"backups/{VICTIM}", f"keys/{VICTIM}", "locks"]
            )
        )
        f.put(forged, f"{folder}/{data.draw(segment)}", data.draw(st.binary(max_size=256)))
    forged.backups.extend(sorted(f.material.records))
    return forged


FORGERIES: dict[str, Forgery] = {
    "stray objects": stray_objects,
    "manifest: random bytes": random_manifest_bytes,
    "manifest: mutated copy": mutated_manifest,
    "manifest: hostile fields": hostile_manifest,
    "manifest: one hostile item field": hostile_item_field,
    "record": hostile_record,
    "data key": hostile_data_key,
    "index": hostile_index,
    "pack": hostile_pack,
}


class RepositoryFuzz:
    def __init__(self, root: Path, scale: Scale, figures: Figures) -> None:
        self.root = root
        self.scale = scale
        self.figures = figures
        self.data = root / "data"
        self.server = ServerProcess(self.data, "--copy-destinations", f"file://{self.data / 'dr'}")
        self.client = Client(self.server.address, timeout=60)
        self.ledger = Ledger()
        rng = random.Random(f"{scale.seed}-repository")
        provision_full(self.client, VICTIM, "basic")
        self.client.put_artifact(VICTIM, "assembly", "Big.dll", rng.randbytes(2 * MB))
        for _ in range(2):
            held = listing(self.client, VICTIM)
            self.ledger.add(self.client.create_backup(VICTIM).result().backup.name, held)
            self.client.put_artifact(VICTIM, "bridge", "OrderBridge", rng.randbytes(300))
        key = (self.data / "stowage.key").read_text().strip()
        self.forger = Forger(
            LocalStore(str(self.data / "repository")), MasterKey.parse(key), self.material(key)
        )
        self.watch = FilesystemWatch(root, self.data)
        self.targets = itertools.count(1)
        self.ms = MessageStrategies(
            StringPool(
                {
                    "id": ["Contoso.Maps.dll", "..", ".", "a/../../b", "x" * 200],
                    "name:environment": [f"environments/{VICTIM}", f"environments/{GHOST}"],
                    "any": ["assemblies", "../../escape", str(self.root / "escape")],
                }
            ),
            max_bytes=64,
        )

    def material(self, key: str) -> Material:
        async def read() -> Material:
            repo = await OfflineRepository.open(self.data / "repository", key)
            try:
                stored = await repo.backups()
                manifests = {b.record.manifest_sha256: b.manifest for b in stored}
                raw = {d: await repo.repo.store.read(f"manifests/{d}") for d in manifests}
                return Material(
                    records={b.name: b.record for b in stored},
                    manifests=manifests,
                    stored_manifests=raw,
                    blobs=sorted(d for d, _ in repo.repo.index.items()),
                    packs=sorted(repo.repo.index.packs),
                )
            finally:
                await repo.close()

        return asyncio.run(read())

    def attempt(self, what: str, call: Any) -> Any:
        try:
            return call()
        except StowageError as e:
            self.figures.fuzz_codes[e.code.name] += 1
            if e.code in BAD or not e.reason:
                self.figures.problem("bad_statuses", f"forged {what}: {e}")
            return None

    def exercise(self, kind: str, forged: Forged, read_data: bool) -> None:
        c = self.client
        self.attempt(f"{kind}: list", lambda: list(c.list_backups()))
        for env in (VICTIM, GHOST):
            self.attempt(f"{kind}: list {env}", lambda e=env: list(c.list_backups(e)))
        for name in forged.backups:
            self.attempt(f"{kind}: get {name}", lambda n=name: c.get_backup(n))
            target = f"fz{next(self.targets):05d}"
            self.attempt(
                f"{kind}: dry-run restore {name}",
                lambda n=name, t=target: c.restore(n, t, validate_only=True).result(),
            )
            if self.attempt(
                f"{kind}: restore {name}", lambda n=name, t=target: c.restore(n, t).result()
            ):
                self.check_restored(kind, target)
        self.attempt(f"{kind}: verify", lambda: c.verify_repository(read_data=read_data).result())
        if forged.backups:
            destination = f"file://{self.data / 'dr'}"
            self.attempt(
                f"{kind}: copy", lambda: c.copy_backup(forged.backups[0], destination).result()
            )

    def check_restored(self, kind: str, target: str) -> None:
        """What a forged backup restored can be named through the API."""
        for artifact in self.client.list_artifacts(target):
            kind_name, artifact_id = (
                artifact.name.split("/")[2:4] if artifact.name.count("/") == 3 else ("", "")
            )
            try:
                self.client.get_artifact(target, artifact.kind, artifact_id)
            except StowageError as e:
                self.figures.problem(
                    "bad_statuses",
                    f"forged {kind}: restored {artifact.name!r} ({kind_name}) cannot be named: {e}",
                )
        self.client.delete_environment(target)

    def run(self) -> None:
        forger, figures = self.forger, self.figures
        count = itertools.count()

        @seed(self.scale.seed)
        @settings(
            max_examples=self.scale.forged_objects,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.generate,),
        )
        @given(st.sampled_from(sorted(FORGERIES)), st.data())
        def case(kind: str, data: st.DataObject) -> None:
            forged = FORGERIES[kind](forger, data, self.ms)
            try:
                self.exercise(kind, forged, read_data=next(count) % 5 == 0)
            finally:
                forger.remove(forged)
            figures.fuzz_cases[f"forged repository objects: {kind}"] += 1

        case()
        audit(self.client, self.ledger, figures, "after the forged objects were removed")
        for op in self.client.list_operations():
            if op.error.code in (2, 13):  # UNKNOWN, INTERNAL
                figures.problem("bad_statuses", f"{op.name} ({op.target}) ended {op.error.message}")
        for path in self.watch.new_paths():
            figures.problem(
                "files_outside", f"forged objects led to {path} outside the data directory"
            )

    def close(self) -> None:
        self.client.close()
        if self.server.proc.poll() is None:
            if self.server.terminate() != 0:
                self.figures.problem("server_stops", "the server did not stop cleanly")
        else:
            self.figures.problem("server_stops", "the server died while reading forged objects")


def run_hostile_repository(root: Path, scale: Scale, figures: Figures) -> None:
    fuzz = RepositoryFuzz(root, scale, figures)
    try:
        fuzz.run()
    finally:
        fuzz.close()
