"""Restore rules R4 to R7 through a real server, with dry runs that change nothing."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from stowage.client import Client
from stowage.errors import CorruptData, NameNotAvailable, RestoreEditionTooLow, StowageError
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb

from ..conftest import ServerThread
from ..sample import provision_full, write_assembly

MB = 1 << 20


def _backup(client: Client, env: str, edition: str = "standard") -> str:
    provision_full(client, env, edition)
    return client.create_backup(env).result().backup.name


def _env_names(client: Client) -> list[str]:
    return [e.name for e in client.list_environments()]


def test_restore_to_lower_edition_is_refused_and_dry_run_says_so(client: Client) -> None:
    backup = _backup(client, "tier", "standard")
    before = _env_names(client)
    with pytest.raises(RestoreEditionTooLow) as err:
        client.restore(backup, "tier-low", edition="basic")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.reason == "RESTORE_EDITION_TOO_LOW"
    assert any(v.subject == "edition" for v in err.value.violations)

    plan = client.restore(backup, "tier-low", edition="basic", validate_only=True).result().restore
    assert plan.validate_only
    checks = {c.check: c for c in plan.checks}
    assert not checks["edition"].passed and checks["edition"].rule == "R5"
    assert checks["name-available"].passed
    assert _env_names(client) == before


def test_restore_onto_a_live_name_is_refused(client: Client) -> None:
    backup = _backup(client, "live")
    with pytest.raises(NameNotAvailable) as err:
        client.restore(backup, "live")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    plan = client.restore(backup, "live", validate_only=True).result().restore
    check = next(c for c in plan.checks if c.check == "name-available")
    assert not check.passed and check.rule == "R4" and "live environment" in check.detail


def test_restore_onto_a_name_in_its_release_period_is_refused(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data", name_release_period="1h")
    try:
        with Client(server.address) as client:
            backup = _backup(client, "gone")
            client.delete_environment("gone")
            with pytest.raises(NameNotAvailable) as err:
                client.restore(backup, "gone")
            assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert "available_time" in err.value.metadata
            plan = client.restore(backup, "gone", validate_only=True).result().restore
            check = next(c for c in plan.checks if c.check == "name-available")
            assert not check.passed and "frees up at" in check.detail
            # A new name is fine meanwhile, and provisioning the old one is refused too.
            with pytest.raises(NameNotAvailable):
                client.provision("gone", "basic")
            assert (
                client.restore(backup, "gone-again").result().restore.environment
                == "environments/gone-again"
            )
    finally:
        server.stop()


def test_restore_to_same_name_after_delete_with_zero_release_period(client: Client) -> None:
    backup = _backup(client, "phoenix")
    client.delete_environment("phoenix")
    result = client.restore(backup, "phoenix").result().restore
    assert result.environment == "environments/phoenix"
    assert client.get_environment("phoenix").state == env_pb.Environment.STATE_SUSPENDED
    assert client.resume("phoenix").state == env_pb.Environment.STATE_ACTIVE


def test_dry_run_lists_every_check_and_warning_and_changes_nothing(
    client: Client, server: ServerThread
) -> None:
    backup = _backup(client, "plan")
    ops_before = len(list(client.list_operations()))
    plan = client.restore(backup, "plan-copy", edition="premium", validate_only=True)
    assert plan.operation.done
    result = plan.result().restore
    assert {c.check for c in result.checks} == {
        "edition-offered",
        "edition",
        "name-available",
        "blobs-present",
    }
    assert all(c.passed for c in result.checks)
    kinds = {w.kind for w in result.warnings}
    assert bk_pb.RestoreWarning.KIND_HYBRID_CONNECTION in kinds
    assert (
        bk_pb.RestoreWarning.KIND_FTP_FOLDER_CONFLICT in kinds
    )  # the source still pulls that folder
    assert "environments/plan-copy" not in _env_names(client)
    assert len(list(client.list_operations())) == ops_before + 1


def test_restore_overrides_settings_and_ftp_folders(client: Client) -> None:
    backup = _backup(client, "override")
    settings = env_pb.EnvironmentSettings(access_control_namespace="new-ns")
    settings.access_control_key.value = b"rotated-key"
    result = (
        client.restore(
            backup,
            "override-copy",
            settings=settings,
            source_ftp_folders={"Contoso-Fabrikam-X12": "/ftp/copy/inbound"},
        )
        .result()
        .restore
    )
    assert bk_pb.RestoreWarning.KIND_FTP_FOLDER_CONFLICT not in {w.kind for w in result.warnings}
    env = client.get_environment("override-copy", full=True)
    assert env.settings.access_control_namespace == "new-ns"
    assert env.settings.access_control_key.value == b"rotated-key"
    assert env.settings.scale_units == 3
    agreement = client.get_artifact("override-copy", "agreement", "Contoso-Fabrikam-X12")
    assert agreement.metadata["source-ftp-folder"] == "/ftp/copy/inbound"


def _stored_blobs(data_dir: Path) -> list[tuple[Path, int, int]]:
    """(pack file, offset, length) of every stored blob, from the pack trailers."""
    from stowage_storage.codec import Codec
    from stowage_storage.pack import parse_trailer

    out = []
    for pack in sorted((data_dir / "repository" / "packs").rglob("*")):
        if pack.is_file():
            data = pack.read_bytes()
            for e in parse_trailer(Codec(), data, len(data)):
                out.append((pack, e.offset, e.length))
    return out


def test_one_flipped_byte_in_any_stored_blob_fails_restore_with_data_loss(
    client: Client, server: ServerThread, tmp_path: Path
) -> None:
    assembly = tmp_path / "a.dll"
    write_assembly(assembly, 2 * MB)
    provision_full(client, "fragile", "basic", assembly)
    backup = client.create_backup("fragile").result().backup.name
    blobs = _stored_blobs(server.data_dir)
    assert len(blobs) >= 20  # 8 small artifacts and the assembly's chunks
    before = _env_names(client)
    for i, (pack, offset, length) in enumerate(blobs):
        original = pack.read_bytes()
        flipped = bytearray(original)
        flipped[offset + length // 2] ^= 0x01
        pack.write_bytes(bytes(flipped))
        try:
            with pytest.raises(CorruptData) as err:
                client.restore(backup, f"fragile-{i}").result()
            assert err.value.code == grpc.StatusCode.DATA_LOSS
            # An item's blob names the item; a block of the manifest's items, the manifest.
            assert "item" in err.value.metadata or "a block of its items" in str(err.value)
            assert _env_names(client) == before
        finally:
            pack.write_bytes(original)
    assert (
        client.restore(backup, "fragile-ok").result().restore.environment
        == "environments/fragile-ok"
    )


def test_a_corrupt_manifest_or_missing_pack_fails_with_data_loss(
    client: Client, server: ServerThread
) -> None:
    backup = _backup(client, "brittle")
    repo = server.data_dir / "repository"
    manifest = next((repo / "manifests").iterdir())
    original = manifest.read_bytes()
    manifest.write_bytes(original[:-3] + bytes(3))
    with pytest.raises(StowageError) as err:
        client.restore(backup, "brittle-copy")
    assert err.value.code == grpc.StatusCode.DATA_LOSS
    manifest.write_bytes(original)

    pack = next(p for p in (repo / "packs").rglob("*") if p.is_file())
    pack.unlink()
    with pytest.raises(StowageError) as err:
        client.restore(backup, "brittle-copy").result()
    assert err.value.code == grpc.StatusCode.DATA_LOSS
    assert "environments/brittle-copy" not in _env_names(client)


def test_resume_refuses_while_an_active_environment_pulls_the_same_ftp_folder(
    client: Client,
) -> None:
    backup = _backup(client, "puller")
    # Credentials of its own: the source still runs with the backed-up key, which
    # would block the resume too (see tests/safe_restores).
    rotated = env_pb.EnvironmentSettings()
    rotated.access_control_key.value = b"twin-key"
    client.restore(backup, "puller-twin", settings=rotated).result()
    with pytest.raises(StowageError) as err:
        client.resume("puller-twin")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.reason == "RESUME_BLOCKED"
    assert [v.subject for v in err.value.violations] == [
        "environments/puller-twin/agreements/Contoso-Fabrikam-X12"
    ]
    # Changing the folder resolves it...
    client.put_artifact(
        "puller-twin",
        "agreement",
        "Contoso-Fabrikam-X12",
        b"<Agreement/>",
        metadata={"source-ftp-folder": "/ftp/twin/inbound"},
    )
    assert client.resume("puller-twin").state == env_pb.Environment.STATE_ACTIVE
    # ...and force overrides it.
    client.restore(backup, "puller-forced").result()
    assert client.resume("puller-forced", force=True).state == env_pb.Environment.STATE_ACTIVE
