"""The core promise, through a real server: back up an environment holding every
artifact kind, every setting and a 200 MB assembly, and restore it to a new name at
a higher edition, byte-identical and SUSPENDED."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from stowage.client import Client
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb

from ..azurite import new_container
from ..conftest import ServerThread, SidecarProcess
from ..sample import SECRETS, provision_full, small_contents, write_assembly

MB = 1 << 20


@pytest.fixture(params=["local", "azure", "sidecar"])
def any_repo_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    """A client of a server whose repository is on local disk, on Azurite, or
    behind the storage sidecar (itself in front of Azurite)."""
    options = {}
    sidecar = None
    if request.param in ("azure", "sidecar"):
        request.getfixturevalue("azurite")
        options["repository"] = f"abfs://{new_container()}/stowage"
    if request.param == "sidecar":
        sidecar = SidecarProcess(options.pop("repository"), tmp_path / "sidecar.sock")
        options["storage"] = sidecar.address
    server = ServerThread(tmp_path / "data", **options)
    try:
        with Client(server.address, timeout=120) as c:
            yield c
    finally:
        server.stop()
        if sidecar is not None:
            sidecar.stop()


def test_round_trip_every_kind_every_setting_and_a_200mb_assembly(
    any_repo_client: Client, tmp_path: Path
) -> None:
    client = any_repo_client
    assembly = tmp_path / "Contoso.Maps.dll"
    assembly_sha = write_assembly(assembly, 200 * MB)
    digests = provision_full(client, "contoso", "basic", assembly)
    assert digests[("assembly", "Contoso.Maps.dll")] == assembly_sha

    handle = client.create_backup("contoso")
    events = list(handle.progress())
    op = handle.result()
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert events[-1].operation.state == ops_pb.Operation.STATE_SUCCEEDED
    backup = op.backup
    assert backup.edition == common_pb2.EDITION_BASIC
    assert backup.artifact_count == 9
    assert backup.size_bytes >= 200 * MB
    excluded = {e.kind for e in backup.excluded}
    assert bk_pb.ExcludedItem.KIND_HYBRID_CONNECTION in excluded
    assert bk_pb.ExcludedItem.KIND_TRACKING_DATA in excluded

    restore = client.restore(backup.name, "contoso-restored", edition="premium")
    result = restore.result().restore
    assert result.environment == "environments/contoso-restored"
    warning_kinds = {w.kind for w in result.warnings}
    assert bk_pb.RestoreWarning.KIND_HYBRID_CONNECTION in warning_kinds
    assert bk_pb.RestoreWarning.KIND_TRACKING_DATA in warning_kinds
    assert bk_pb.RestoreWarning.KIND_NO_BACKUP_POLICY in warning_kinds

    source = client.get_environment("contoso", full=True)
    restored = client.get_environment("contoso-restored", full=True)
    assert restored.state == env_pb.Environment.STATE_SUSPENDED
    assert restored.edition == common_pb2.EDITION_PREMIUM
    assert restored.region == source.region == "west-europe"
    assert restored.restored_from == backup.name
    assert restored.settings == source.settings
    for name, value in SECRETS.items():
        assert getattr(restored.settings, name).value == value

    restored_artifacts = {
        (a.name.split("/")[2], a.name.split("/")[3]): a
        for a in client.list_artifacts("contoso-restored")
    }
    assert len(restored_artifacts) == 9
    for kind, (artifact_id, content, meta) in small_contents().items():
        got = b"".join(client.read_artifact("contoso-restored", kind, artifact_id))
        assert (
            got == content
            if kind != "certificate"
            else hashlib.sha256(got).hexdigest() == digests[(kind, artifact_id)]
        )
        assert dict(client.get_artifact("contoso-restored", kind, artifact_id).metadata) == meta
    h = hashlib.sha256()
    size = 0
    for piece in client.read_artifact("contoso-restored", "assembly", "Contoso.Maps.dll"):
        h.update(piece)
        size += len(piece)
    assert size == 200 * MB
    assert h.hexdigest() == assembly_sha

    # Runtime state that the rules need came along; what is never backed up did not.
    counters = client.environments.ListControlNumbers(
        env_pb.ListControlNumbersRequest(parent="environments/contoso-restored")
    ).control_numbers
    assert [(c.interchange, c.group, c.transaction_set) for c in counters] == [(3, 3, 6)]
    dup = client.environments.RecordAs2Message(
        env_pb.RecordAs2MessageRequest(
            parent="environments/contoso-restored", message_id="<msg-1@contoso>"
        )
    )
    assert dup.duplicate
    hcs = client.environments.ListHybridConnections(
        env_pb.ListHybridConnectionsRequest(parent="environments/contoso-restored")
    )
    assert list(hcs.hybrid_connections) == []


def test_second_backup_of_unchanged_environment_writes_no_blob_data(
    client: Client, server, tmp_path: Path
) -> None:
    assembly = tmp_path / "a.dll"
    write_assembly(assembly, 3 * MB)
    provision_full(client, "steady", "standard", assembly)
    first = client.create_backup("steady").result().backup
    packs_before = sorted((server.data_dir / "repository" / "packs").rglob("*"))
    second = client.create_backup("steady").result().backup
    packs_after = sorted((server.data_dir / "repository" / "packs").rglob("*"))
    assert first.added_bytes > 3 * MB * 0.9
    assert second.added_bytes == 0
    assert packs_before == packs_after
    assert second.name != first.name
    listed = [b.name for b in client.list_backups("steady")]
    assert listed == [second.name, first.name]
