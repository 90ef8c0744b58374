"""Restore drills through a real server: a good backup passes and leaves no
sandbox; a corrupt blob fails the drill naming its item and leaves no sandbox
either; a policy schedules drills, and the last one shows in backup status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from stowage.client import Client
from stowage.v1 import operations_pb2 as ops_pb
from stowage_server.clock import ManualClock

from ..cli.test_cli import stowage
from ..conftest import ServerThread, wait_for
from ..sample import provision_full

Op = ops_pb.Operation


def corrupt_blob(data_dir: Path, sha256_hex: str) -> tuple[Callable[[], None], set[str]]:
    """Flips one byte of the stored blob with this digest; returns the undo and
    the digests damaged with it (a small artifact's bundle neighbours too)."""
    from stowage_storage.codec import Codec
    from stowage_storage.pack import parse_trailer

    for pack in (data_dir / "repository" / "packs").rglob("*"):
        if not pack.is_file():
            continue
        original = pack.read_bytes()
        entries = parse_trailer(Codec(), original, len(original))
        for e in entries:
            if e.sha256.hex() == sha256_hex:
                flipped = bytearray(original)
                flipped[e.offset + e.length // 2] ^= 0x01
                pack.write_bytes(bytes(flipped))
                damaged = {x.sha256.hex() for x in entries if x.offset == e.offset}
                return (lambda p=pack, o=original: p.write_bytes(o)), damaged
    raise AssertionError(f"no stored blob {sha256_hex}")


def no_sandbox_left(client: Client, server: ServerThread) -> bool:
    listed = [e.name for e in client.list_environments()]
    return not any("drill-" in n for n in listed) and not server.call(_sandboxes(server))


async def _sandboxes(server: ServerThread) -> list[str]:
    # Not even a deleted row: a release period would otherwise hold the name.
    registry = server.server.engines.registry
    with registry.db.read() as conn:
        return [
            r[0] for r in conn.execute("SELECT name FROM environments WHERE name GLOB 'drill-*'")
        ]


def test_a_good_backup_passes_and_a_corrupt_blob_fails_naming_the_item(
    client: Client, server: ServerThread
) -> None:
    digests = provision_full(client, "drilled", "basic")
    backup = client.create_backup("drilled").result().backup.name

    op = client.drill_backup(backup).result()
    assert op.kind == Op.KIND_DRILL and op.target == backup
    d = op.drill
    assert d.passed and not d.problems, d.problems
    assert d.backup == backup and d.sandbox.startswith("environments/drill-")
    assert d.sandbox == f"environments/drill-{op.name.split('/')[1][:12]}"
    assert d.artifacts_checked == len(digests) and d.settings_checked == 11
    assert d.sandbox_deleted and d.duration.ToNanoseconds() > 0
    assert no_sandbox_left(client, server)
    status = client.backup_status("drilled")[0]
    assert status.last_drill.operation == op.name and status.last_drill.passed

    undo, damaged = corrupt_blob(server.data_dir, digests[("transform", "Order850ToCanonical")])
    try:
        failed = client.drill_backup(backup).result()  # the drill ran: the operation succeeds
    finally:
        undo()
    assert not failed.drill.passed
    # The sandbox's restore stops at the first unreadable artifact: the one
    # damaged, or one stored in a bundle with it (small artifacts are).
    collections = {"x12-mapping": "x12Mappings", "assembly": "assemblies"}
    names = {
        f"{collections.get(kind, kind + 's')}/{artifact}"
        for (kind, artifact), digest in digests.items()
        if digest in damaged
    }
    assert "transforms/Order850ToCanonical" in names
    assert [p.item for p in failed.drill.problems] in [[n] for n in names]
    assert failed.drill.sandbox_deleted and no_sandbox_left(client, server)
    status = client.backup_status("drilled")[0]
    assert status.last_drill.operation == failed.name and not status.last_drill.passed

    r = stowage(server, "backup", "drill", backup)  # whole again
    assert r.returncode == 0, r.stderr
    assert "PASSED" in r.stdout and "sandbox deleted" in r.stdout


def test_a_policy_schedules_drills_of_the_newest_backup(tmp_path: Path) -> None:
    clock = ManualClock()
    s = ServerThread(tmp_path / "data", clock=clock)
    try:
        with Client(s.address) as c:
            c.provision("nightly", "basic")
            c.put_artifact("nightly", "partner", "P", b"<partner/>")
            policy = c.set_backup_policy("nightly", every=24 * 3600, drill_every=3600)
            assert policy.drill_every.seconds == 3600
            assert policy.next_drill_time.seconds == policy.update_time.seconds + 3600
            clock.advance(3600 + 120)  # past the slot and its jitter: nothing to drill yet
            _wake(s)
            refused = wait_for(lambda: _drill_state(c, "REFUSED"))
            assert "no backup of environments/nightly" in refused.error.message
            backup = c.create_backup("nightly").result().backup.name
            clock.advance(3600)
            _wake(s)
            drilled = wait_for(lambda: _drill_state(c, "SUCCEEDED"))
            assert drilled.backup == backup and drilled.passed and drilled.result.scheduled
    finally:
        s.stop()


def _wake(s: ServerThread) -> None:
    async def poke() -> None:
        s.server.engines.drill_scheduler.wake()

    s.call(poke())


def _drill_state(c: Client, state: str):  # type: ignore[no-untyped-def]
    status = c.backup_status("nightly")[0]
    return status.last_drill if status.last_drill.state == state else None
