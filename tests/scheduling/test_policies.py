"""Backup policies through a real server and the CLI: set, get, clear, the
rules that refuse a policy, and copying a policy on restore (R10)."""

from __future__ import annotations

import grpc
import pytest

from stowage.client import Client
from stowage.errors import BackupPolicyNotFound, EditionNotSupported, InvalidArgument
from stowage.v1 import backups_pb2 as bk_pb

from ..cli.test_cli import stowage
from ..conftest import ServerThread

W = bk_pb.RestoreWarning


def test_set_get_and_clear_a_policy(client: Client) -> None:
    client.provision("pol", "standard")
    with pytest.raises(BackupPolicyNotFound) as err:
        client.get_backup_policy("pol")
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    status = client.backup_status("pol")[0]
    assert not status.HasField("backup_policy") and not status.HasField("next_run_time")

    set_ = client.set_backup_policy("pol", every=6 * 3600, keep_last=3, keep_daily=7)
    got = client.get_backup_policy("pol")
    assert got.name == "environments/pol/backupPolicy"
    assert got.every.seconds == 6 * 3600
    assert (got.retention.keep_last, got.retention.keep_daily) == (3, 7)
    assert got.update_time == set_.update_time
    # `every` counts from when the policy was set.
    assert got.next_run_time.ToMilliseconds() == got.update_time.ToMilliseconds() + 6 * 3600_000
    status = client.backup_status("pol")[0]
    assert status.backup_policy.every.seconds == 6 * 3600
    assert status.next_run_time == got.next_run_time

    cron = client.set_backup_policy("pol", cron="30  2 * * *")
    assert cron.cron == "30 2 * * *" and not cron.HasField("retention")
    assert cron.next_run_time.seconds % 86400 == 2 * 3600 + 30 * 60

    client.delete_backup_policy("pol")
    with pytest.raises(BackupPolicyNotFound):
        client.delete_backup_policy("pol")
    client.delete_backup_policy("pol", allow_missing=True)
    assert not client.backup_status("pol")[0].HasField("backup_policy")


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"every": 60}, "policy.every", "minimum interval"),
        ({"cron": "* * * * *"}, "policy.cron", "minimum interval"),
        ({"cron": "0 25 * * *"}, "policy.cron", "outside 0-23"),
        ({"every": 3600, "keep_last": 0, "retention": True}, "policy.retention", "keeps nothing"),
        ({"every": 7200, "max_age": 3600}, "policy.retention.max_age", "expire before"),
        ({"cron": "0 9 * * 1-5", "max_age": 2 * 86400}, "policy.retention.max_age", "3d between"),
        ({}, "policy.schedule", "every"),
    ],
)
def test_policies_that_cannot_work_are_refused(
    client: Client, kwargs: dict, field: str, words: str
) -> None:
    client.provision("strict", "basic")
    with pytest.raises(InvalidArgument) as err:
        client.set_backup_policy("strict", **kwargs)
    assert err.value.metadata["field"] == field
    assert words in err.value.message


def test_an_edition_without_backups_takes_no_policy(client: Client) -> None:
    client.provision("devbox", "developer")
    with pytest.raises(EditionNotSupported):
        client.set_backup_policy("devbox", every=3600)


def test_restore_copies_the_recorded_policy_only_when_asked(client: Client) -> None:
    client.provision("src", "basic")
    client.put_artifact("src", "partner", "P", b"<p/>")
    client.set_backup_policy("src", cron="0 3 * * *", keep_daily=14, keep_monthly=6)
    backup = client.create_backup("src").result().backup.name

    plain = client.restore(backup, "src-plain").result().restore
    assert not plain.HasField("backup_policy")
    assert W.KIND_NO_BACKUP_POLICY in {w.kind for w in plain.warnings}
    with pytest.raises(BackupPolicyNotFound):
        client.get_backup_policy("src-plain")

    copied = client.restore(backup, "src-copy", copy_backup_policy=True).result().restore
    assert W.KIND_NO_BACKUP_POLICY not in {w.kind for w in copied.warnings}
    policy = client.get_backup_policy("src-copy")
    assert policy.name == "environments/src-copy/backupPolicy"
    assert policy.cron == "0 3 * * *"
    assert (policy.retention.keep_daily, policy.retention.keep_monthly) == (14, 6)
    assert copied.backup_policy.cron == "0 3 * * *"


def test_policy_commands(server: ServerThread) -> None:
    with Client(server.address) as c:
        c.provision("cli-pol", "premium")
    r = stowage(
        server,
        "backup",
        "policy",
        "set",
        "cli-pol",
        "--every",
        "6h",
        "--keep-last",
        "3",
        "--max-age",
        "2d",
    )
    assert r.returncode == 0, r.stderr
    assert "every 6h" in r.stdout and "keep last 3, max-age 2d" in r.stdout
    r = stowage(server, "backup", "policy", "get", "cli-pol")
    assert "every 6h" in r.stdout and "next run" in r.stdout
    r = stowage(server, "backup", "status", "cli-pol")
    header, row = r.stdout.splitlines()[:2]
    assert "NEXT RUN" in header and "POLICY" in header
    assert "every 6h; keep last 3, max-age 2d" in row

    r = stowage(
        server, "backup", "policy", "set", "cli-pol", "--cron", "0 2 * * *", "--keep-last", "0"
    )
    assert r.returncode == 1
    assert r.stderr.startswith("error: INVALID_ARGUMENT INVALID_ARGUMENT: policy.retention: keeps")
    r = stowage(server, "backup", "policy", "set", "cli-pol", "--every", "6x")
    assert r.returncode == 2 and "invalid duration" in r.stderr

    r = stowage(server, "backup", "policy", "clear", "cli-pol")
    assert r.returncode == 0 and "no automatic backups" in r.stdout
    r = stowage(server, "backup", "policy", "get", "cli-pol")
    assert r.returncode == 1 and "BACKUP_POLICY_NOT_FOUND" in r.stderr
