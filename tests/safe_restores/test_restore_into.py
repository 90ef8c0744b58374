"""Restoring chosen artifacts into an existing SUSPENDED environment: the
mistakenly deleted agreement comes back with its control numbers, nothing
else changes, and the checks of a full restore apply."""

from __future__ import annotations

import grpc
import pytest

from stowage.client import Client
from stowage.errors import InvalidArgument, InvalidState, RestoreEditionTooLow
from stowage.v1 import environments_pb2 as env_pb

from ..sample import provision_full

AGREEMENT = "Contoso-Fabrikam-X12"


def test_a_deleted_agreement_comes_back_and_nothing_else_changes(client: Client) -> None:
    provision_full(client, "ops", "standard")
    backup = client.create_backup("ops").result().backup.name
    client.put_artifact("ops", "partner", "Fabrikam", b"<Partner v2/>")  # after the backup
    client.delete_artifact("ops", "agreement", AGREEMENT)  # the mistake
    uid = client.get_environment("ops").uid

    with pytest.raises(InvalidState) as err:  # still ACTIVE: R7
        client.restore_into(backup, "ops", artifacts=[f"agreement/{AGREEMENT}"])
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.metadata["check"] == "target-suspended"
    client.suspend("ops")
    with pytest.raises(InvalidArgument) as bad:
        client.restore_into(backup, "ops", artifacts=["agreement/Nope"])
    assert "not in the backup: agreements/Nope" in bad.value.message

    plan = (
        client.restore_into(backup, "ops", artifacts=[f"agreement/{AGREEMENT}"], validate_only=True)
        .result()
        .restore
    )
    assert plan.target_existing and plan.validate_only
    assert {c.check for c in plan.checks} == {
        "edition-offered",
        "edition",
        "target-suspended",
        "blobs-present",
    }
    assert not any(a.name.endswith(AGREEMENT) for a in client.list_artifacts("ops"))

    result = client.restore_into(backup, "ops", artifacts=[f"agreements/{AGREEMENT}"]).result()
    restored = result.restore
    assert list(restored.restored_artifacts) == [f"agreements/{AGREEMENT}"]
    assert restored.artifact_count == 1 and restored.environment == "environments/ops"
    agreement = client.get_artifact("ops", "agreement", AGREEMENT)
    assert agreement.metadata["source-ftp-folder"] == "/ftp/contoso/inbound"
    (numbers,) = client.list_control_numbers("ops")
    assert (numbers.interchange, numbers.group, numbers.transaction_set) == (3, 3, 6)
    env = client.get_environment("ops")
    assert env.uid == uid and env.state == env_pb.Environment.STATE_SUSPENDED
    assert b"".join(client.read_artifact("ops", "partner", "Fabrikam")) == b"<Partner v2/>"
    assert client.list_hybrid_connections("ops")  # runtime state untouched
    assert not env.checklist  # no conflict: nothing to do

    # By kind: every partner back as backed up.
    client.restore_into(backup, "ops", kinds=["partner"]).result()
    assert b"<Partner name='Fabrikam'" in b"".join(
        client.read_artifact("ops", "partner", "Fabrikam")
    )

    client.provision("smaller", "basic")
    client.suspend("smaller")
    with pytest.raises(RestoreEditionTooLow):  # R5, as for a new environment
        client.restore_into(backup, "smaller", kinds=["partner"])
    assert not list(client.list_artifacts("smaller"))
