"""A sample environment holding every artifact kind, every setting and runtime state."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

from stowage.client import KINDS, Client
from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb

# Markers that must never appear in plaintext in any file under a data directory.
SECRETS = {
    "access_control_key": b"ACK-zq7-secret-marker-0001",
    "tracking_database_connection_string": b"Server=tcp:trk;Password=TRK-secret-marker-0002",
    "archive_storage_connection_string": b"AccountKey=ARC-secret-marker-0003",
    "monitoring_storage_connection_string": b"AccountKey=MON-secret-marker-0004",
    "ssl_certificate": b"PFX-BYTES-secret-marker-0005" + bytes(range(256)),
    "ssl_certificate_password": b"PWD-secret-marker-0006",
}


def full_settings() -> env_pb.EnvironmentSettings:
    s = env_pb.EnvironmentSettings(
        scale_units=3, product_version="2.3.104", access_control_namespace="contoso-acs"
    )
    for name, value in SECRETS.items():
        getattr(s, name).CopyFrom(common_pb2.Secret(value=value))
    return s


def write_assembly(path: Path, size: int, seed: int = 7) -> str:
    """A binary file of ``size`` bytes, random in 1 MiB blocks; returns its sha256."""
    rng = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            block = rng.randbytes(n)
            h.update(block)
            f.write(block)
            left -= n
    return h.hexdigest()


def small_contents() -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """One artifact of every kind except the assembly: kind -> (id, content, metadata)."""
    return {
        "partner": ("Fabrikam", b"<Partner name='Fabrikam'><Profile id='P1'/></Partner>", {}),
        "agreement": (
            "Contoso-Fabrikam-X12",
            b"<Agreement protocol='X12' host='Contoso' guest='Fabrikam'/>",
            {"source-ftp-folder": "/ftp/contoso/inbound", "protocol": "x12"},
        ),
        "bridge": ("OrderBridge", b"<Bridge name='OrderBridge'/>", {}),
        "certificate": ("fabrikam-signing", os.urandom(1200), {}),
        "transform": ("Order850ToCanonical", b"<xsl:stylesheet version='1.0'/>" * 40, {}),
        "pipeline": ("ValidateAndRoute", b'{"stages": ["validate", "route"]}', {}),
        "template": ("X12-850-Template", b"<Template kind='850'/>", {}),
        "x12-mapping": ("ST01-GS01", b"850=PO\n810=IN\n856=SH\n", {}),
    }


def populate(client: Client, env: str, assembly: Path | None = None) -> dict[tuple[str, str], str]:
    """Puts every kind into ``env``; returns {(kind, id): sha256}."""
    digests: dict[tuple[str, str], str] = {}
    for kind, (artifact_id, content, meta) in small_contents().items():
        a = client.put_artifact(env, kind, artifact_id, content, metadata=meta)
        digests[(kind, artifact_id)] = a.sha256
    if assembly is not None:
        a = client.put_artifact(env, "assembly", "Contoso.Maps.dll", str(assembly))
        digests[("assembly", "Contoso.Maps.dll")] = a.sha256
    assert {k for k, _ in digests} >= set(KINDS) - ({"assembly"} if assembly is None else set())
    return digests


def add_runtime_state(client: Client, env: str) -> None:
    agreement = f"environments/{env}/agreements/Contoso-Fabrikam-X12"
    for _ in range(3):
        client.environments.IssueControlNumbers(
            env_pb.IssueControlNumbersRequest(agreement=agreement, transaction_sets=2)
        )
    client.environments.RecordAs2Message(
        env_pb.RecordAs2MessageRequest(
            parent=f"environments/{env}", message_id="<msg-1@contoso>", mic="abc=, sha256"
        )
    )
    client.environments.CreateHybridConnection(
        env_pb.CreateHybridConnectionRequest(
            parent=f"environments/{env}",
            hybrid_connection_id="onprem-sql",
            hybrid_connection=env_pb.HybridConnection(endpoint="sql.contoso.local:1433"),
        )
    )


def provision_full(
    client: Client, env: str, edition: str = "basic", assembly: Path | None = None
) -> dict:
    client.provision(env, edition, region="west-europe", settings=full_settings())
    digests = populate(client, env, assembly)
    add_runtime_state(client, env)
    return digests
