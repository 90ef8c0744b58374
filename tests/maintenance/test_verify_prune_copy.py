"""Verify, prune and copy through a real server."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import grpc
import pytest

from stowage.client import Client
from stowage.errors import StowageError
from stowage_server import manifest as mf
from stowage_storage.codec import Codec
from stowage_storage.pack import parse_trailer

from ..azurite import new_container
from ..conftest import ServerThread
from ..faults.offline_repository import OfflineRepository
from ..sample import provision_full, write_assembly

MB = 1 << 20


def _packs(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / "packs").rglob("*") if p.is_file())


def _stored_digests(repo: Path) -> set[bytes]:
    out = set()
    for pack in _packs(repo):
        data = pack.read_bytes()
        out |= {e.sha256 for e in parse_trailer(Codec(), data, len(data))}
    return out


def _live_blobs(server: ServerThread, manifest_sha256: str) -> set[bytes]:
    """The blobs a manifest keeps: its item blocks and its items' content."""

    async def read() -> set[bytes]:
        key = (server.data_dir / "stowage.key").read_text().strip()
        offline = await OfflineRepository.open(server.data_dir / "repository", key)
        try:
            _, header, items = await mf.read(offline.repo, manifest_sha256)
        finally:
            await offline.close()
        blocks = {bytes(b.sha256) for b in header.item_blocks}
        return blocks | {d for item in items for d, _ in mf.blob_refs(item)}

    return asyncio.run(read())


def test_verify_passes_on_a_healthy_repository(client: Client, tmp_path: Path) -> None:
    assembly = tmp_path / "a.dll"
    write_assembly(assembly, 2 * MB)
    provision_full(client, "healthy", "basic", assembly)
    client.create_backup("healthy").result()
    for read_data in (False, True):
        result = client.verify_repository(read_data=read_data).result().verify
        assert result.ok, result.problems
        assert result.backups_checked == 1 and result.packs_checked >= 1
        assert (result.bytes_read > 0) == read_data


def test_verify_names_a_deleted_pack_a_corrupted_blob_and_a_truncated_manifest(
    client: Client, server: ServerThread, tmp_path: Path
) -> None:
    repo = server.data_dir / "repository"
    # Three environments, each backed up alone so that each has packs of its own.
    # Distinct seeds: str hashes differ per process and collided once in a
    # thousand runs, when two environments then shared every blob.
    for seed, env in enumerate(("one", "two", "three"), start=1):
        assembly = tmp_path / f"{env}.dll"
        write_assembly(assembly, MB, seed=seed)
        client.provision(env, "basic")
        client.put_artifact(env, "assembly", f"{env}.dll", str(assembly))
    backups = {}
    packs_before: set[Path] = set()
    packs_of = {}
    for env in ("one", "two", "three"):
        backups[env] = client.create_backup(env).result().backup
        packs_of[env] = [p for p in _packs(repo) if p not in packs_before]
        packs_before |= set(packs_of[env])

    # (each backup's largest pack holds its data; a small one its manifest's items)
    deleted = max(packs_of["one"], key=lambda p: p.stat().st_size)
    deleted.unlink()  # a deleted pack
    pack = max(packs_of["two"], key=lambda p: p.stat().st_size)  # a corrupted blob
    data = bytearray(pack.read_bytes())
    entry = parse_trailer(Codec(), bytes(data), len(data))[0]
    data[entry.offset + entry.length // 2] ^= 0x40
    pack.write_bytes(bytes(data))
    manifest = repo / "manifests" / backups["three"].manifest_sha256  # a truncated manifest
    manifest.write_bytes(manifest.read_bytes()[:20])

    result = client.verify_repository(read_data=True).result().verify
    assert not result.ok
    by_backup: dict[str, list] = {}
    for p in result.problems:
        by_backup.setdefault(p.backup, []).append(p)
    one = by_backup[backups["one"].name]
    assert all(p.item == "assemblies/one.dll" for p in one)
    assert any("pack" in p.description and "missing" in p.description for p in one)
    assert any(p.object.endswith(deleted.name) for p in one)
    two = by_backup[backups["two"].name]
    assert [p.blob for p in two] == [entry.sha256.hex()]
    assert two[0].item == "assemblies/two.dll" and "digest" in two[0].description
    three = by_backup[backups["three"].name]
    assert three[0].object == f"manifests/{backups['three'].manifest_sha256}"
    assert "manifest" in three[0].description
    # Without reading data the corrupted blob goes unnoticed, the rest does not.
    quick = client.verify_repository().result().verify
    assert {p.backup for p in quick.problems if p.backup} == {
        backups["one"].name,
        backups["three"].name,
    }


def test_prune_removes_exactly_the_unreferenced_blobs(
    client: Client, server: ServerThread, tmp_path: Path
) -> None:
    repo = server.data_dir / "repository"
    shared = tmp_path / "shared.dll"
    write_assembly(shared, MB, seed=1)
    only_old = tmp_path / "old.dll"
    write_assembly(only_old, MB, seed=2)
    client.provision("prunable", "basic")
    client.put_artifact("prunable", "assembly", "shared.dll", str(shared))
    client.put_artifact("prunable", "assembly", "old.dll", str(only_old))
    client.put_artifact("prunable", "bridge", "small-old", b"<bridge v='old'/>")
    old = client.create_backup("prunable").result().backup
    client.delete_artifact("prunable", "assembly", "old.dll")
    client.put_artifact("prunable", "bridge", "small-old", b"<bridge v='new'/>")
    new = client.create_backup("prunable").result().backup
    stored_before = _stored_digests(repo)

    # While both backups exist, nothing is unreferenced.
    first = client.prune_repository().result().prune
    assert first.blobs_removed == 0
    assert _stored_digests(repo) == stored_before

    client.delete_backup(old.name)
    result = client.prune_repository().result().prune
    live = _live_blobs(server, new.manifest_sha256)
    assert _stored_digests(repo) == live
    assert result.blobs_removed == len(stored_before - live) > 0
    assert result.packs_repacked >= 1  # the small bridge shared a pack with live blobs
    assert result.manifests_deleted == 1  # its data key went with the DeleteBackup
    assert not (repo / "manifests" / old.manifest_sha256).exists()
    assert len(list((repo / "index").iterdir())) == 1
    restored = client.restore(new.name, "prunable-restored").result().restore
    assert restored.artifact_count == 2
    got = b"".join(client.read_artifact("prunable-restored", "assembly", "shared.dll"))
    assert hashlib.sha256(got).digest() == hashlib.sha256(shared.read_bytes()).digest()
    assert client.verify_repository(read_data=True).result().verify.ok


def test_prune_refuses_while_a_backup_holds_the_repository(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data", upload_limit="4MiB")
    try:
        with Client(server.address) as client:
            big = tmp_path / "big.dll"
            write_assembly(big, 16 * MB)
            provision_full(client, "locked", "basic", big)
            backup = client.create_backup("locked")
            for event in backup.progress():
                if event.progress.phase == "upload" and event.progress.bytes_done > MB:
                    break
            with pytest.raises(StowageError) as err:
                client.prune_repository().result()
            assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert err.value.reason == "REPOSITORY_LOCKED"
            assert "backup" in err.value.metadata["holders"]
            done = backup.result().backup
            assert client.prune_repository().result().prune.blobs_removed == 0
            assert client.restore(done.name, "locked-copy").result().restore.artifact_count == 9
    finally:
        server.stop()


def test_a_stale_lock_of_a_crashed_process_expires(client: Client, server: ServerThread) -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    from stowage.v1 import repository_pb2

    provision_full(client, "stale", "basic")
    client.create_backup("stale").result()
    lapsed = Timestamp()
    lapsed.FromSeconds(1_000_000_000)
    lock = repository_pb2.LockRecord(
        mode=repository_pb2.LockRecord.MODE_EXCLUSIVE,
        owner="crashed host pid 1: prune",
        expire_time=lapsed,
    )
    (server.data_dir / "repository" / "locks").mkdir(exist_ok=True)
    (server.data_dir / "repository" / "locks" / "deadbeef").write_bytes(lock.SerializeToString())
    assert (
        client.create_backup("stale").result().backup.name
    )  # a lapsed exclusive lock blocks nothing
    assert client.prune_repository().result().prune.locks_removed == 1
    assert list((server.data_dir / "repository" / "locks").iterdir()) == []


def bundles(repository: Path) -> set[frozenset[bytes]]:
    """The digests of each bundle in a local repository, from its packs' trailers."""
    from stowage_storage.codec import Codec
    from stowage_storage.pack import parse_trailer

    found: set[frozenset[bytes]] = set()
    for pack in (repository / "packs").rglob("*"):
        if pack.is_file():
            data = pack.read_bytes()
            stored: dict[int, set[bytes]] = {}
            for e in parse_trailer(Codec(), data, len(data)):
                stored.setdefault(e.offset, set()).add(e.sha256)
            found |= {frozenset(d) for d in stored.values() if len(d) > 1}
    return found


def test_copy_to_a_second_repository_restores_byte_identical(tmp_path: Path, azurite) -> None:  # type: ignore[no-untyped-def]
    second = tmp_path / "second-repo"
    container = new_container()
    destinations = f"abfs://,file://{tmp_path}"
    source = ServerThread(tmp_path / "source", copy_destinations=destinations)
    try:
        with Client(source.address) as client:
            assembly = tmp_path / "a.dll"
            write_assembly(assembly, 3 * MB)
            provision_full(client, "travel", "premium", assembly)
            backup = client.create_backup("travel").result().backup
            to_disk = client.copy_backup(backup.name, str(second)).result().copy
            assert to_disk.blobs_copied > 0 and to_disk.blobs_present == 0
            again = client.copy_backup(backup.name, str(second)).result().copy
            assert again.blobs_copied == 0 and again.blobs_present == to_disk.blobs_copied
            to_azure = client.copy_backup(backup.name, f"abfs://{container}/dr").result().copy
            assert to_azure.blobs_copied == to_disk.blobs_copied
            with pytest.raises(StowageError) as err:
                client.copy_backup(backup.name, "/etc/stowage-not-allowed")
            assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
            key = (tmp_path / "source" / "stowage.key").read_text().strip()
            # Small artifacts bundled at the source are bundled alike in the copy.
            source_bundles = bundles(tmp_path / "source" / "repository")
            assert source_bundles and bundles(second) == source_bundles
            want = {a.name.split("/", 2)[2]: a.sha256 for a in client.list_artifacts("travel")}
    finally:
        source.stop()
    for repository in (str(second), f"abfs://{container}/dr"):
        target = ServerThread(
            tmp_path / f"target-{abs(hash(repository))}", repository=repository, key=key
        )
        try:
            with Client(target.address) as client:
                assert [b.name for b in client.list_backups()] == [backup.name]
                client.restore(backup.name, "travel").result()
                got = {a.name.split("/", 2)[2]: a.sha256 for a in client.list_artifacts("travel")}
                assert got == want
                assert (
                    hashlib.sha256(
                        b"".join(client.read_artifact("travel", "assembly", "Contoso.Maps.dll"))
                    ).hexdigest()
                    == want["assemblies/Contoso.Maps.dll"]
                )
        finally:
            target.stop()
