"""FTP folder conflicts (R9) and the checklist of a restored environment:
what a dry run lists, what GetEnvironment shows, how items close, and when
ResumeEnvironment refuses."""

from __future__ import annotations

import grpc
import pytest

from stowage.client import Client
from stowage.errors import ObjectNotFound, ResumeBlocked
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb

W = bk_pb.RestoreWarning
Item = env_pb.ChecklistItem
OPEN, DONE, ACKED = Item.STATE_OPEN, Item.STATE_DONE, Item.STATE_ACKNOWLEDGED
FOLDERS = {"Orders": "/ftp/contoso/orders", "Invoices": "/ftp/contoso/invoices"}


def _source(client: Client) -> str:
    settings = env_pb.EnvironmentSettings()
    settings.access_control_key.value = b"source-key"
    client.provision("src", "basic", settings=settings)
    for agreement, folder in FOLDERS.items():
        client.put_artifact(
            "src", "agreement", agreement, b"<A/>", metadata={"source-ftp-folder": folder}
        )
    client.put_artifact("src", "agreement", "Quiet", b"<A/>", metadata={"source-ftp-folder": "/q"})
    client.create_hybrid_connection("src", "onprem-sql", "sql.contoso.local:1433")
    backup = client.create_backup("src").result().backup.name
    # The source moves on: "Quiet" no longer pulls the folder the backup has.
    client.put_artifact("src", "agreement", "Quiet", b"<A/>", metadata={"source-ftp-folder": "/q2"})
    return backup


def _states(client: Client, env: str) -> dict[str, int]:
    return {i.id: i.state for i in client.get_environment(env).checklist}


def test_conflicts_block_resume_until_the_folder_changes_or_force(client: Client) -> None:
    backup = _source(client)
    rotated = env_pb.EnvironmentSettings()
    rotated.access_control_key.value = b"twin-key"  # credentials re-pointed at restore time

    plan = client.restore(backup, "twin", settings=rotated, validate_only=True).result().restore
    conflicts = [w for w in plan.warnings if w.kind == W.KIND_FTP_FOLDER_CONFLICT]
    assert sorted(w.subject for w in conflicts) == [
        "environments/twin/agreements/Invoices",
        "environments/twin/agreements/Orders",
    ]
    assert all("agreement" in w.message and "src" in w.message for w in conflicts)
    assert {i.id for i in plan.checklist if i.blocking and i.state == OPEN} == {
        "ftp-folder-Invoices",
        "ftp-folder-Orders",
    }
    (credentials,) = [i for i in plan.checklist if i.id == "credentials"]
    assert credentials.state == DONE and "restore request" in credentials.resolution

    client.restore(backup, "twin", settings=rotated).result()
    with pytest.raises(ResumeBlocked) as err:
        client.resume("twin")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert sorted(v.subject for v in err.value.violations) == [
        "environments/twin/agreements/Invoices",
        "environments/twin/agreements/Orders",
    ]
    for agreement in FOLDERS:
        client.put_artifact(
            "twin",
            "agreement",
            agreement,
            b"<A/>",
            metadata={"source-ftp-folder": f"/ftp/twin/{agreement}"},
        )
    assert client.resume("twin").state == env_pb.Environment.STATE_ACTIVE

    client.restore(backup, "forced", settings=rotated).result()
    with pytest.raises(ResumeBlocked):
        client.resume("forced")
    assert client.resume("forced", force=True).state == env_pb.Environment.STATE_ACTIVE


def test_the_checklist_closes_itself_as_fixes_are_made(client: Client) -> None:
    backup = _source(client)
    client.restore(backup, "copy").result()
    items = {i.id: i for i in client.get_environment("copy").checklist}
    assert list(items) == [
        "credentials",
        "ftp-folder-Invoices",
        "ftp-folder-Orders",
        "hybrid-connection-onprem-sql",
        "backup-policy",
        "tracking-data",
    ]
    assert items["credentials"].blocking  # the source runs with the same key
    assert items["credentials"].name == "environments/copy/checklistItems/credentials"
    assert not items["tracking-data"].blocking and not items["backup-policy"].blocking
    assert all(i.state == OPEN for i in items.values())
    with pytest.raises(ResumeBlocked) as err:
        client.resume("copy")
    assert err.value.metadata["checklist_items"] == (
        "credentials,ftp-folder-Invoices,ftp-folder-Orders"
    )

    settings = env_pb.EnvironmentSettings()
    settings.access_control_key.value = b"copy-key"
    client.update_environment("copy", settings=settings, setting_fields=["access_control_key"])
    client.put_artifact(
        "copy", "agreement", "Orders", b"<A/>", metadata={"source-ftp-folder": "/ftp/copy"}
    )
    client.create_hybrid_connection("copy", "onprem-sql", "sql.copy.local:1433")
    client.set_backup_policy("copy", every=6 * 3600)
    acked = client.acknowledge_checklist_item("copy", "ftp-folder-Invoices", note="src retires")
    assert acked.state == ACKED and acked.resolution == "acknowledged: src retires"

    items = {i.id: i for i in client.get_environment("copy").checklist}
    assert {k: i.state for k, i in items.items()} == {
        "credentials": DONE,
        "ftp-folder-Invoices": ACKED,
        "ftp-folder-Orders": DONE,
        "hybrid-connection-onprem-sql": DONE,
        "backup-policy": DONE,
        "tracking-data": OPEN,
    }
    assert items["credentials"].resolution == "access_control_key changed"
    assert items["ftp-folder-Orders"].resolution == "source folder changed to /ftp/copy"
    assert items["credentials"].HasField("close_time")
    # Closed for good: acknowledging again changes nothing.
    again = client.acknowledge_checklist_item("copy", "credentials")
    assert again.state == DONE
    with pytest.raises(ObjectNotFound):
        client.acknowledge_checklist_item("copy", "no-such-item")
    # Acknowledged, yet an ACTIVE environment still pulls that folder (R9)...
    with pytest.raises(ResumeBlocked) as err:
        client.resume("copy")
    assert [v.subject for v in err.value.violations] == ["environments/copy/agreements/Invoices"]
    client.suspend("src")  # ...until it stops. The tracking note never blocks.
    assert client.resume("copy").state == env_pb.Environment.STATE_ACTIVE
    assert _states(client, "copy")["tracking-data"] == OPEN
