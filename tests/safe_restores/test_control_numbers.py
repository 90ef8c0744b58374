"""EDI control numbers and AS2 duplicates across a restore (R8), end to end
through a real server: each policy's counters, the default's warning, and the
partner identities that decide which live agreements count."""

from __future__ import annotations

from stowage.client import Client
from stowage.v1 import backups_pb2 as bk_pb

W = bk_pb.RestoreWarning
AGREEMENT = "Contoso-Fabrikam-X12"
PARTNERS = {"host-partner": "Contoso", "guest-partner": "Fabrikam"}


def _counters(client: Client, env: str) -> tuple[int, int, int]:
    (c,) = client.list_control_numbers(env)
    return c.interchange, c.group, c.transaction_set


def _issue(client: Client, env: str, times: int, sets: int = 2) -> None:
    for _ in range(times):
        client.issue_control_numbers(env, AGREEMENT, transaction_sets=sets)


def test_each_policy_restores_the_counters_it_promises(client: Client) -> None:
    client.provision("edi", "basic")
    client.put_artifact("edi", "agreement", AGREEMENT, b"<Agreement/>", metadata=PARTNERS)
    _issue(client, "edi", 3)
    client.record_as2_message("edi", "<before@contoso>", "mic=, sha256")
    backup = client.create_backup("edi").result().backup.name
    _issue(client, "edi", 2)  # the source goes on: (5, 5, 10) live, (3, 3, 6) backed up
    # Same agreement id, other partners: a different trading relationship, never counted.
    client.provision("elsewhere", "basic")
    client.put_artifact(
        "elsewhere", "agreement", AGREEMENT, b"<A/>", metadata={"host-partner": "Northwind"}
    )
    client.issue_control_numbers("elsewhere", AGREEMENT, transaction_sets=1000)

    keep = client.restore(backup, "edi-keep").result().restore
    assert _counters(client, "edi-keep") == (3, 3, 6)
    (change,) = keep.control_numbers
    assert change.policy == bk_pb.CONTROL_NUMBER_POLICY_KEEP
    assert (change.before.interchange, change.after.interchange) == (3, 3)
    assert change.before.agreement == f"environments/edi/agreements/{AGREEMENT}"
    assert change.after.agreement == f"environments/edi-keep/agreements/{AGREEMENT}"
    assert list(change.live_environments) == ["environments/edi"]
    assert (change.live_max.interchange, change.live_max.transaction_set) == (5, 10)
    assert "may duplicate" in change.reason
    (warning,) = [w for w in keep.warnings if w.kind == W.KIND_CONTROL_NUMBERS]
    assert warning.subject == change.agreement and "edi has issued" in warning.message

    live_max = client.restore(backup, "edi-max", control_numbers="live-max").result().restore
    assert _counters(client, "edi-max") == (5, 5, 10)
    assert "took the live maximum: edi" in live_max.control_numbers[0].reason
    assert not [w for w in live_max.warnings if w.kind == W.KIND_CONTROL_NUMBERS]

    advance = (
        client.restore(backup, "edi-adv", control_numbers="advance", control_number_margin=100)
        .result()
        .restore
    )
    assert _counters(client, "edi-adv") == (103, 103, 106)
    assert advance.control_numbers[0].reason == "advanced the backup's counters by 100"
    assert not [w for w in advance.warnings if w.kind == W.KIND_CONTROL_NUMBERS]

    # An AS2 message id recorded before the backup is a duplicate after the restore.
    for env in ("edi-keep", "edi-adv"):
        dup = client.record_as2_message(env, "<before@contoso>")
        assert dup.duplicate and dup.mic == "mic=, sha256"
        assert not client.record_as2_message(env, "<after@contoso>").duplicate
