"""Full disks: the repository's, and the data directory's (registry and content).

A full repository disk fails a backup with a named refusal (STORAGE_REJECTED),
leaves nothing listable and the repository sound; once space is freed (the
leftovers pruned), backups work again. A full data directory fails management
writes and backups with RESOURCE_EXHAUSTED, never INTERNAL; an operation whose
progress could not be saved still ends (FAILED, named) once there is room, and
the server keeps serving throughout.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import grpc

from stowage.client import Client
from stowage.errors import StowageError, from_status
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerThread
from ..sample import populate
from .audit import Ledger, audit, listing
from .figures import Figures
from .scale import MB
from .small_disk import SmallDisk

BAD_CODES = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
# How long an operation may take to end once the disk has room again.
SETTLE_SECONDS = 60.0
# How long the disk stays full under a running backup: longer than the 24 MB
# it sends at 8 MiB/s.
FULL_SECONDS = 4.0


def _named(e: StowageError, figures: Figures, where: str) -> str:
    if e.code in BAD_CODES or not e.reason:
        figures.problem("bad_statuses", f"{where}: unnamed failure {e}")
    return f"{e.code.name} {e.reason}"


def fill(path: Path) -> Path:
    """Writes a ballast file until the filesystem is full; returns it."""
    ballast = path / "ballast"
    block = b"\0" * (1 << 16)
    with open(ballast, "wb") as f:
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
    return ballast


def run_full_repository_disk(root: Path, figures: Figures) -> None:
    where = "repository disk full"
    rng = random.Random("repository disk")
    with SmallDisk(root / "small", 24) as disk:
        server = ServerThread(root / "data", repository=str(disk.path / "repository"))
        ledger = Ledger()
        try:
            with Client(server.address, timeout=120) as client:
                client.provision("crowded", "basic")
                populate(client, "crowded")
                client.put_artifact("crowded", "assembly", "Base.dll", rng.randbytes(2 * MB))
                held = listing(client, "crowded")
                ledger.add(client.create_backup("crowded").result().backup.name, held)
                client.put_artifact("crowded", "assembly", "Big.dll", rng.randbytes(40 * MB))
                try:
                    client.create_backup("crowded").result()
                    figures.problem("lost_backups", f"{where}: 40 MB fit on a 24 MB disk")
                    outcome = "succeeded?"
                except StowageError as e:
                    outcome = "failed " + _named(e, figures, where)
                    if e.reason != "STORAGE_REJECTED":
                        figures.problem("bad_statuses", f"{where}: expected STORAGE_REJECTED: {e}")
                audit(client, ledger, figures, where)
                client.delete_artifact("crowded", "assembly", "Big.dll")
                client.prune_repository().result()  # reclaims the packs the failed backup left
                held = listing(client, "crowded")
                ledger.add(client.create_backup("crowded").result().backup.name, held)
                audit(client, ledger, figures, f"{where}, after pruning")
                figures.fault(where, outcome)
        finally:
            server.stop()


def run_full_data_disk(root: Path, figures: Figures) -> None:
    where = "data directory disk full"
    rng = random.Random("data disk")
    with SmallDisk(root / "small", 48) as disk:
        server = ServerThread(
            disk.path / "data", repository=str(root / "repository"), upload_limit="8MiB"
        )
        ledger = Ledger()
        try:
            with Client(server.address, timeout=120) as client:
                client.provision("cramped", "basic")
                populate(client, "cramped")
                client.put_artifact("cramped", "assembly", "Base.dll", rng.randbytes(2 * MB))
                held = listing(client, "cramped")
                ledger.add(client.create_backup("cramped").result().backup.name, held)
                free = disk.free_bytes()
                # 1. Content larger than the disk.
                try:
                    client.put_artifact("cramped", "assembly", "Huge.dll", rng.randbytes(64 * MB))
                    figures.problem("lost_backups", f"{where}: 64 MB fit on a 48 MB disk")
                except StowageError as e:
                    figures.fault(f"{where}: an upload", "failed " + _named(e, figures, where))
                if disk.free_bytes() < free - MB:
                    figures.problem(
                        "files_outside",
                        f"{where}: a failed upload kept {free - disk.free_bytes()} bytes",
                    )
                # 2. Management writes and a backup request on a disk with no room at all.
                ballast = fill(disk.path)
                for name, call in (
                    ("a put", lambda: client.put_artifact("cramped", "bridge", "B", b"<b/>" * 500)),
                    ("a provision", lambda: client.provision("cramped-two", "basic")),
                    ("a backup", lambda: client.create_backup("cramped").result()),
                ):
                    try:
                        call()
                        figures.fault(f"{where}: {name}", "succeeded")
                    except StowageError as e:
                        figures.fault(f"{where}: {name}", "failed " + _named(e, figures, where))
                ballast.unlink()
                # 3. The disk fills while a backup runs and stays full past its end:
                # neither its progress nor its end can be saved until there is room.
                client.put_artifact("cramped", "assembly", "Fresh.dll", rng.randbytes(24 * MB))
                handle = client.create_backup("cramped")
                for event in handle.progress():
                    if event.progress.phase == "upload":
                        break
                ballast = fill(disk.path)
                time.sleep(FULL_SECONDS)
                ballast.unlink()
                op = _settled(client, handle.name)
                if op is None:
                    figures.problem(
                        "lost_backups",
                        f"{where}: the backup was still running {SETTLE_SECONDS:g} s after "
                        "the disk had room again",
                    )
                elif op.state == ops_pb.Operation.STATE_SUCCEEDED:
                    ledger.add(op.backup.name, listing(client, "cramped"))
                    figures.fault(f"{where}: a running backup", "succeeded")
                else:
                    if op.error.code in (2, 13):  # UNKNOWN, INTERNAL
                        figures.problem("bad_statuses", f"{where}: backup ended {op.error}")
                    e = from_status(op.error)
                    figures.fault(f"{where}: a running backup", f"failed {e.code.name} {e.reason}")
                # 4. Everything works again.
                held = listing(client, "cramped")
                ledger.add(client.create_backup("cramped").result().backup.name, held)
                audit(client, ledger, figures, where)
        finally:
            server.stop()


def _settled(client: Client, name: str) -> ops_pb.Operation | None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        op = client.get_operation(name)
        if op.done:
            return op
        time.sleep(0.2)
    return None
