"""Names a client sends become object keys and file names: each malformed one
(dots, slashes, NUL, newlines, over-long, non-ASCII) fails INVALID_ARGUMENT and
no file appears outside the data directory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from stowage.client import Client
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import blobs_pb2, blobs_pb2_grpc
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerThread

BAD = [
    "..",
    "../../outside",
    "a/b",
    "/absolute",
    "env\x00nul",
    "env\n",
    "x" * 5000,
    "ünïcode-env",
    "",
]


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def code_of(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "SerializeToString"):
            list(result)
    except grpc.RpcError as e:
        return e.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_malformed_names_fail_and_touch_nothing_outside(
    server: ServerThread, tmp_path: Path
) -> None:
    with Client(server.address) as c:
        c.provision("named", "basic")
        backup = c.create_backup("named").result().backup
        outside_before = files(tmp_path) - {
            f for f in files(tmp_path) if f.startswith("data" + os.sep) or f == "data"
        }
        blobs = blobs_pb2_grpc.BlobServiceStub(c.channel)
        env = c.environments

        def calls_for(bad: str) -> dict[str, Callable[[], Any]]:
            return {
                "provision": lambda: env.ProvisionEnvironment(
                    env_pb.ProvisionEnvironmentRequest(
                        environment_id=bad, environment=env_pb.Environment(edition=2)
                    )
                ),
                "get": lambda: env.GetEnvironment(
                    env_pb.GetEnvironmentRequest(name=f"environments/{bad}")
                ),
                "put": lambda: env.PutArtifact(
                    iter(
                        [
                            env_pb.PutArtifactRequest(
                                artifact=env_pb.Artifact(
                                    name=f"environments/named/assemblies/{bad}"
                                ),
                                data=b"x",
                            )
                        ]
                    )
                ),
                "hybrid": lambda: env.CreateHybridConnection(
                    env_pb.CreateHybridConnectionRequest(
                        parent="environments/named",
                        hybrid_connection_id=bad,
                        hybrid_connection=env_pb.HybridConnection(endpoint="h:1"),
                    )
                ),
                "backup": lambda: c.backups.CreateBackup(
                    bk_pb.CreateBackupRequest(parent=f"environments/{bad}")
                ),
                "request_id": lambda: c.backups.CreateBackup(
                    bk_pb.CreateBackupRequest(parent="environments/named", request_id=bad + "/")
                ),
                "get_backup": lambda: c.backups.GetBackup(
                    bk_pb.GetBackupRequest(name=f"environments/named/backups/{bad}")
                ),
                "delete_backup": lambda: c.backups.DeleteBackup(
                    bk_pb.DeleteBackupRequest(name=f"environments/{bad}/backups/{bad}")
                ),
                "restore_from": lambda: c.backups.RestoreBackup(
                    bk_pb.RestoreBackupRequest(
                        backup=f"environments/named/backups/{bad}", environment_id="named-copy"
                    )
                ),
                "restore_to": lambda: c.backups.RestoreBackup(
                    bk_pb.RestoreBackupRequest(backup=backup.name, environment_id=bad)
                ),
                "copy": lambda: c.backups.CopyBackup(
                    mt_pb.CopyBackupRequest(
                        name=f"environments/named/backups/{bad}",
                        destination_repository=str(tmp_path / "elsewhere"),
                    )
                ),
                "operation": lambda: c.operations.GetOperation(
                    ops_pb.GetOperationRequest(name=f"operations/{bad}")
                ),
                "blob": lambda: blobs.ReadBlob(blobs_pb2.ReadBlobRequest(sha256=bad)),
                "find_blobs": lambda: blobs.FindMissingBlobs(
                    blobs_pb2.FindMissingBlobsRequest(sha256=[bad])
                ),
            }

        for bad in BAD:
            for what, call in calls_for(bad).items():
                assert code_of(call) == grpc.StatusCode.INVALID_ARGUMENT, (what, bad[:20])
        outside_after = files(tmp_path) - {
            f for f in files(tmp_path) if f.startswith("data" + os.sep) or f == "data"
        }
        assert outside_after == outside_before
        assert not any("outside" in f or "absolute" in f for f in files(tmp_path))
        assert [e.name for e in c.list_environments()] == ["environments/named"]
