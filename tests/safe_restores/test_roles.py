"""Who may call the safe-restore RPCs: drills, diffs and checklist
acknowledgements are the operator's; a restore into an existing environment is
a real restore, the admin's."""

from __future__ import annotations

import pytest

from stowage import errors
from stowage.client import Client
from stowage.v1 import environments_pb2 as env_pb

from ..conftest import ServerThread
from ..security.conftest import Tokens, role_tokens, secured  # noqa: F401 (fixtures)


def test_operators_drill_diff_and_acknowledge_admins_restore_into(
    secured: ServerThread,  # noqa: F811
    role_tokens: Tokens,  # noqa: F811
) -> None:
    with Client(secured.address, token=role_tokens.operator) as op:
        op.provision("guarded", "basic")
        op.put_artifact("guarded", "partner", "P", b"<p/>")
        backup = op.create_backup("guarded").result().backup.name
        assert op.drill_backup(backup).result().drill.passed
        assert not op.diff_backup(backup, live_environment="guarded").changes
    with Client(secured.address, token=role_tokens.admin) as admin:
        admin.restore(backup, "guarded-copy").result()
    with Client(secured.address, token=role_tokens.viewer) as viewer:
        with pytest.raises(errors.PermissionDenied):
            viewer.drill_backup(backup)
        with pytest.raises(errors.PermissionDenied):
            viewer.acknowledge_checklist_item("guarded-copy", "tracking-data")
        assert viewer.get_environment("guarded-copy").checklist  # reading it is a viewer's
    with Client(secured.address, token=role_tokens.operator) as op:
        item = op.acknowledge_checklist_item("guarded-copy", "tracking-data")
        assert item.state == env_pb.ChecklistItem.STATE_ACKNOWLEDGED
        op.suspend("guarded")
        with pytest.raises(errors.PermissionDenied) as denied:
            op.restore_into(backup, "guarded", kinds=["partner"])
        assert denied.value.metadata["required_role"] == "admin"
        assert op.restore_into(backup, "guarded", kinds=["partner"], validate_only=True).result()
