"""Backup diffs through a real server: between two backups and against the
live environment, exact when one item of each kind changes; secrets compared
without ever being shown."""

from __future__ import annotations

import hashlib

from stowage.client import Client
from stowage.v1 import diffs_pb2 as df_pb
from stowage.v1 import environments_pb2 as env_pb

from ..cli.test_cli import stowage
from ..conftest import ServerThread
from ..sample import SECRETS, full_settings, populate

C = df_pb.Change
ADDED, REMOVED, CHANGED = C.TYPE_ADDED, C.TYPE_REMOVED, C.TYPE_CHANGED


def _rows(resp: df_pb.DiffBackupResponse) -> list[tuple]:
    return [
        (c.type, c.subject, tuple((f.field, f.before, f.after, f.secret) for f in c.fields))
        for c in resp.changes
    ]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_diff_between_backups_and_against_live_is_exact(
    client: Client, server: ServerThread
) -> None:
    client.provision("diffy", "basic", region="west-europe", settings=full_settings())
    populate(client, "diffy")
    client.put_artifact("diffy", "assembly", "Old.dll", b"MZ-old")
    first = client.create_backup("diffy").result().backup.name

    # One change of every kind: artifacts changed, added and removed; settings too.
    client.put_artifact("diffy", "partner", "Fabrikam", b"<Partner v2/>")
    client.put_artifact(
        "diffy",
        "agreement",
        "Contoso-Fabrikam-X12",
        b"<Agreement protocol='X12' host='Contoso' guest='Fabrikam'/>",
        metadata={"source-ftp-folder": "/ftp/contoso/new", "protocol": "x12"},
    )
    client.delete_artifact("diffy", "assembly", "Old.dll")
    client.put_artifact("diffy", "bridge", "NewBridge", b"<Bridge/>")
    cert = b"\x30" * 1200
    client.put_artifact("diffy", "certificate", "fabrikam-signing", cert)
    client.put_artifact(
        "diffy",
        "transform",
        "Order850ToCanonical",
        b"<xsl:stylesheet version='1.0'/>" * 40,
        metadata={"version": "2"},
    )
    client.put_artifact("diffy", "pipeline", "ValidateAndRoute", b'{"stages": []}')
    client.delete_artifact("diffy", "template", "X12-850-Template")
    client.put_artifact("diffy", "x12-mapping", "ST01-GS01-v2", b"850=PO\n")
    settings = env_pb.EnvironmentSettings(scale_units=4)
    settings.access_control_key.value = b"rotated-key"
    client.update_environment(
        "diffy",
        settings=settings,
        setting_fields=["scale_units", "access_control_key", "ssl_certificate_password"],
        region="north-europe",
    )
    second = client.create_backup("diffy").result().backup.name

    diff = client.diff_backup(first, other_backup=second)
    assert (diff.backup, diff.other) == (first, second)
    old_partner, old_pipeline = (
        b"<Partner name='Fabrikam'><Profile id='P1'/></Partner>",
        b'{"stages": ["validate", "route"]}',
    )
    rows = _rows(diff)
    cert_row = rows[4]  # the old certificate was random bytes: check its shape apart
    assert cert_row[:2] == (CHANGED, "certificates/fabrikam-signing")
    assert [(f[0], f[2]) for f in cert_row[2]] == [("sha256", _sha(cert))]
    assert rows[:4] + rows[5:] == [
        (
            CHANGED,
            "partners/Fabrikam",
            (
                ("sha256", _sha(old_partner), _sha(b"<Partner v2/>"), False),
                ("size_bytes", str(len(old_partner)), "13", False),
            ),
        ),
        (
            CHANGED,
            "agreements/Contoso-Fabrikam-X12",
            (("metadata.source-ftp-folder", "/ftp/contoso/inbound", "/ftp/contoso/new", False),),
        ),
        (REMOVED, "assemblies/Old.dll", ()),
        (ADDED, "bridges/NewBridge", ()),
        (CHANGED, "transforms/Order850ToCanonical", (("metadata.version", "", "2", False),)),
        (
            CHANGED,
            "pipelines/ValidateAndRoute",
            (
                ("sha256", _sha(old_pipeline), _sha(b'{"stages": []}'), False),
                ("size_bytes", str(len(old_pipeline)), "14", False),
            ),
        ),
        (REMOVED, "templates/X12-850-Template", ()),
        (ADDED, "x12Mappings/ST01-GS01-v2", ()),
        (CHANGED, "region", (("value", "west-europe", "north-europe", False),)),
        (CHANGED, "settings.scale_units", (("value", "3", "4", False),)),
        (CHANGED, "settings.access_control_key", (("value", "set", "set", True),)),
        (REMOVED, "settings.ssl_certificate_password", (("value", "set", "", True),)),
    ]
    assert [c.artifact_kind for c in diff.changes[:9]] == list(range(1, 10))

    # Against the live environment: exactly what changed since the second backup.
    client.put_artifact("diffy", "partner", "Late", b"<Partner/>")
    client.update_environment(
        "diffy",
        settings=env_pb.EnvironmentSettings(product_version="2.4.0"),
        setting_fields=["product_version"],
    )
    live = client.diff_backup(second, live_environment="diffy")
    assert live.other == "environments/diffy"
    assert _rows(live) == [
        (ADDED, "partners/Late", ()),
        (CHANGED, "settings.product_version", (("value", "2.3.104", "2.4.0", False),)),
    ]
    assert not client.diff_backup(second, other_backup=second).changes

    # Secrets: neither values nor fingerprints ever leave the server.
    shown = diff.SerializeToString() + live.SerializeToString()
    fingerprints = [
        getattr(client.get_environment("diffy").settings, name).fingerprint for name in SECRETS
    ]
    for leak in [*SECRETS.values(), b"rotated-key", *(f.encode() for f in fingerprints if f)]:
        assert leak not in shown
    r = stowage(server, "backup", "diff", first, second)
    assert r.returncode == 0, r.stderr
    assert "rotated-key" not in r.stdout and "changed  partners/Fabrikam" in r.stdout
    r = stowage(server, "backup", "diff", second, "--live", "diffy")
    assert r.returncode == 0 and "added    partners/Late" in r.stdout, r.stdout
