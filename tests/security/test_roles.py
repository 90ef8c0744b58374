"""Tokens and roles through the public contract: every method of every service
the server offers (found by reflection, so a new one cannot be forgotten) is
refused without a token, and refused to roles below the one it needs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from stowage import errors
from stowage.channel import options
from stowage.client import Client
from stowage.credentials import sync_channel
from stowage.v1 import environments_pb2 as env_pb
from stowage_server import roles, tokens

from ..conftest import ServerThread
from .conftest import Tokens

OPEN = {"grpc.health.v1.Health"}
# Promised by name, whatever the table says: these need an admin.
ADMIN_ONLY = {
    "stowage.v1.BackupService/RestoreBackup",
    "stowage.v1.BackupService/DeleteBackup",
    "stowage.v1.EnvironmentService/DeleteEnvironment",
    "stowage.v1.RepositoryService/PruneRepository",
    "stowage.v1.RepositoryService/RotateKey",
}


def served_methods(address: str, token: str) -> list[tuple[str, Any]]:
    with sync_channel(address, options(), token=token) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(db)
        found = []
        for service in db.get_services():
            if service in OPEN:
                continue
            for method in pool.FindServiceByName(service).methods:
                found.append((f"{service}/{method.name}", method))
        return found


def call(channel: grpc.Channel, path: str, method: Any) -> grpc.StatusCode:
    """Calls with an empty request; returns the status code."""
    full = "/" + path
    try:
        if method.client_streaming and method.server_streaming:
            list(channel.stream_stream(full)(iter([]), timeout=20))
        elif method.client_streaming:
            channel.stream_unary(full)(iter([]), timeout=20)
        elif method.server_streaming:
            list(channel.unary_stream(full)(b"", timeout=20))
        else:
            channel.unary_unary(full)(b"", timeout=20)
    except grpc.RpcError as e:
        return e.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_every_method_needs_a_token_and_its_role(
    secured: ServerThread, role_tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    methods = served_methods(secured.address, role_tokens.admin)
    names = {path for path, _ in methods}
    assert "stowage.v1.RepositoryService/RotateKey" in names
    assert "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" in names
    missing = sorted(n for n in names if roles.rule(n) is None)
    assert not missing, f"methods with no row in roles.RULES: {missing}"
    assert ADMIN_ONLY <= names

    with (
        grpc.insecure_channel(secured.address) as anonymous,
        sync_channel(secured.address, options(), token=role_tokens.viewer) as viewer,
        sync_channel(secured.address, options(), token=role_tokens.operator) as operator,
        sync_channel(secured.address, options(), token="stw_not-a-real-token") as forged,
    ):
        for path, method in methods:
            assert call(anonymous, path, method) == grpc.StatusCode.UNAUTHENTICATED, path
            assert call(forged, path, method) == grpc.StatusCode.UNAUTHENTICATED, path
            needed = roles.RULES[path].required(None)
            as_viewer = call(viewer, path, method)
            if needed > roles.VIEWER:
                assert as_viewer == grpc.StatusCode.PERMISSION_DENIED, path
            else:
                assert as_viewer not in (
                    grpc.StatusCode.PERMISSION_DENIED,
                    grpc.StatusCode.UNAUTHENTICATED,
                ), path
            if needed > roles.OPERATOR or path in ADMIN_ONLY:
                assert call(operator, path, method) == grpc.StatusCode.PERMISSION_DENIED, path

        # Health stays open to probes.
        health = health_pb2_grpc.HealthStub(anonymous)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == 1

    assert "PERMISSION_DENIED" in caplog.text  # the server logged the calls...
    for token in (role_tokens.admin, role_tokens.operator, role_tokens.viewer, "not-a-real"):
        assert token not in caplog.text  # ...and never a token


def test_unknown_methods_are_denied_to_everyone() -> None:
    assert roles.rule("stowage.v1.BackupService/NoSuchMethod") is None
    assert roles.rule("stowage.v1.NewService/Anything") is None


def test_secrets_need_an_admin_and_drills_an_operator(
    secured: ServerThread, role_tokens: Tokens
) -> None:
    settings = env_pb.EnvironmentSettings()
    settings.access_control_key.value = b"top-secret-key"
    with Client(secured.address, token=role_tokens.operator) as op:
        op.provision("guarded", "basic", settings=settings)
        backup = op.create_backup("guarded").result().backup
        # A dry-run restore is a drill: an operator may run it.
        assert op.restore(backup.name, "guarded-drill", validate_only=True).result().done
        with pytest.raises(errors.PermissionDenied) as denied:
            op.restore(backup.name, "guarded-copy")
        assert denied.value.metadata == {"role": "operator", "required_role": "admin"}
        with pytest.raises(errors.PermissionDenied):
            op.get_environment("guarded", full=True)
    with Client(secured.address, token=role_tokens.viewer) as viewer:
        env = viewer.get_environment("guarded")
        assert env.settings.access_control_key.set and not env.settings.access_control_key.value
        with pytest.raises(errors.PermissionDenied):
            viewer.get_environment("guarded", full=True)
        with pytest.raises(errors.PermissionDenied):
            viewer.create_backup("guarded")
    with Client(secured.address, token=role_tokens.admin) as admin:
        full = admin.get_environment("guarded", full=True)
        assert full.settings.access_control_key.value == b"top-secret-key"


def test_a_revoked_token_stops_at_its_next_call(
    secured: ServerThread, role_tokens: Tokens, tmp_path: Path
) -> None:
    with Client(secured.address, token=role_tokens.viewer) as viewer:
        assert list(viewer.list_environments()) == []
        tokens.revoke(str(role_tokens.path), "vera")
        with pytest.raises(errors.Unauthenticated) as refused:
            list(viewer.list_environments())
        assert role_tokens.viewer not in str(refused.value)
    with Client(secured.address) as nobody, pytest.raises(errors.Unauthenticated):
        list(nobody.list_environments())


async def test_the_async_client_sends_its_token(secured: ServerThread, role_tokens: Tokens) -> None:
    from stowage.aio import AsyncClient

    async with AsyncClient(secured.address, token=role_tokens.operator) as c:
        await c.provision("async-env", "basic")
        await c.put_artifact("async-env", "assembly", "A.dll", b"a" * 3000)
        assert b"".join([p async for p in c.read_artifact("async-env", "assembly", "A.dll")]) == (
            b"a" * 3000
        )
        handle = await c.create_backup("async-env")
        assert [e.sequence async for e in handle.progress()][-1] > 0
    async with AsyncClient(secured.address) as nobody:
        with pytest.raises(errors.Unauthenticated):
            await nobody.get_environment("async-env")
