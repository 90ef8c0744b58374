"""Limits: an oversized message, an oversized stream and too many calls at once
each fail RESOURCE_EXHAUSTED LIMIT_EXCEEDED, and the server stays up."""

from __future__ import annotations

import queue
from pathlib import Path

import pytest

from stowage import errors
from stowage.client import Client
from stowage.v1 import environments_pb2 as env_pb

from ..conftest import ServerThread, wait_for
from .conftest import Tokens


@pytest.fixture
def limited(tmp_path: Path, role_tokens: Tokens):  # type: ignore[no-untyped-def]
    s = ServerThread(
        tmp_path / "data",
        tokens_file=str(role_tokens.path),
        max_message_size="2MiB",
        max_stream_size="3MiB",
        max_concurrent_streams="1",
    )
    try:
        yield s
    finally:
        s.stop()


def test_sizes(limited: ServerThread, role_tokens: Tokens) -> None:
    with Client(limited.address, token=role_tokens.operator) as c:
        c.provision("limited", "basic")
        with pytest.raises(errors.LimitExceeded) as big:
            c.get_environment("x" * (3 * 1024 * 1024))
        assert big.value.metadata["limit"] == "max_message_size"
        with pytest.raises(errors.LimitExceeded) as long:
            c.put_artifact("limited", "assembly", "Big.dll", b"\0" * (4 * 1024 * 1024))
        assert long.value.metadata["limit"] == "max_stream_size"
        assert c.put_artifact(
            "limited", "assembly", "Small.dll", b"\0" * (2 * 1024 * 1024)
        ).size_bytes
        assert [a.name for a in c.list_artifacts("limited")] == [
            "environments/limited/assemblies/Small.dll"
        ]


def test_calls_at_once_per_caller(limited: ServerThread, role_tokens: Tokens) -> None:
    with (
        Client(limited.address, token=role_tokens.operator) as otto,
        Client(limited.address, token=role_tokens.viewer) as vera,
    ):
        otto.provision("busy", "basic")
        # An upload left open holds one of otto's calls.
        pieces: queue.Queue[env_pb.PutArtifactRequest | None] = queue.Queue()
        pieces.put(
            env_pb.PutArtifactRequest(
                artifact=env_pb.Artifact(name="environments/busy/assemblies/Slow.dll"), data=b"1"
            )
        )
        upload = otto.environments.PutArtifact.future(iter(pieces.get, None), timeout=60)

        def refused() -> bool:
            try:
                otto.get_environment("busy")
            except errors.LimitExceeded as e:
                return e.metadata["limit"] == "max_concurrent_streams"
            return False

        assert wait_for(refused)
        assert vera.get_environment("busy").name == "environments/busy"  # another caller
        pieces.put(None)
        assert upload.result(timeout=60).size_bytes == 1
        assert wait_for(lambda: not refused())
