"""A large assembly uploaded once through BlobService, then named by digest."""

from __future__ import annotations

import hashlib
import os

import grpc
import pytest

from stowage.client import Client
from stowage.v1 import blobs_pb2, blobs_pb2_grpc
from stowage.v1 import environments_pb2 as env_pb

MB = 1 << 20


def test_upload_once_then_put_artifact_by_digest(client: Client) -> None:
    blobs = blobs_pb2_grpc.BlobServiceStub(client.channel)
    data = os.urandom(5 * MB)
    digest = hashlib.sha256(data).hexdigest()
    assert list(
        blobs.FindMissingBlobs(blobs_pb2.FindMissingBlobsRequest(sha256=[digest])).missing_sha256
    ) == [digest]

    def upload(payload: bytes, name: str = digest):  # type: ignore[no-untyped-def]
        yield blobs_pb2.WriteBlobRequest(sha256=name, size_bytes=len(payload))
        for i in range(0, len(payload), MB):
            yield blobs_pb2.WriteBlobRequest(data=payload[i : i + MB])

    first = blobs.WriteBlob(upload(data))
    assert first.size_bytes == len(data) and not first.already_present
    assert (
        list(
            blobs.FindMissingBlobs(
                blobs_pb2.FindMissingBlobsRequest(sha256=[digest])
            ).missing_sha256
        )
        == []
    )
    assert blobs.WriteBlob(upload(data)).already_present

    # A blob whose content does not match its name never becomes visible.
    wrong = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(grpc.RpcError) as err:
        blobs.WriteBlob(upload(b"not that", wrong))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(
        blobs.FindMissingBlobs(blobs_pb2.FindMissingBlobsRequest(sha256=[wrong])).missing_sha256
    ) == [wrong]

    client.provision("by-digest", "basic")
    header = env_pb.Artifact(name="environments/by-digest/assemblies/Big.dll", sha256=digest)
    artifact = client.environments.PutArtifact(iter([env_pb.PutArtifactRequest(artifact=header)]))
    assert artifact.size_bytes == len(data) and artifact.sha256 == digest
    assert b"".join(client.read_artifact("by-digest", "assembly", "Big.dll")) == data
    ranged = b"".join(
        r.data
        for r in blobs.ReadBlob(blobs_pb2.ReadBlobRequest(sha256=digest, offset=10, limit=100))
    )
    assert ranged == data[10:110]

    unknown = env_pb.Artifact(name="environments/by-digest/assemblies/Ghost.dll", sha256=wrong)
    with pytest.raises(grpc.RpcError) as err:
        client.environments.PutArtifact(iter([env_pb.PutArtifactRequest(artifact=unknown)]))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    backup = client.create_backup("by-digest").result().backup
    client.restore(backup.name, "by-digest-copy").result()
    assert (
        hashlib.sha256(
            b"".join(client.read_artifact("by-digest-copy", "assembly", "Big.dll"))
        ).hexdigest()
        == digest
    )


def test_the_server_does_not_serve_repository_objects(client: Client) -> None:
    blobs = blobs_pb2_grpc.BlobServiceStub(client.channel)
    with pytest.raises(grpc.RpcError) as err:
        blobs.StatObject(blobs_pb2.StatObjectRequest(key="config"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
