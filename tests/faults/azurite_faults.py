"""Azurite (the Azure Blob emulator) stopped and started again under a server
whose repository is in it.

Each case ends in a success (the outage was retried away, or the operation was
done before it) or a named failure (UNAVAILABLE STORAGE_UNAVAILABLE); then,
with Azurite back, the repository is audited and the operation retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from stowage.client import Client
from stowage.errors import EnvironmentNotFound, StowageError
from stowage.operation import Operation

from ..azurite import Azurite, new_container
from ..conftest import ServerThread
from ..sample import populate
from .audit import Ledger, audit, environment_matches, listing
from .figures import Figures
from .scale import MB, Scale

ENV = "cloudy"
BAD_CODES = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
# The server's retry budget, and an outage surely longer (Azurite itself takes
# a few seconds to start again).
RETRY_BUDGET = "8s"
LONG_OUTAGE = 6.0


class AzuriteBed:
    def __init__(self, root: Path, azurite: Azurite, figures: Figures, rng: random.Random) -> None:
        self.azurite = azurite
        self.figures = figures
        self.rng = rng
        self.server = ServerThread(
            root / "data",
            repository=f"abfs://{new_container()}/faults",
            upload_limit="8MiB",
            storage_retry_budget=RETRY_BUDGET,
        )
        self.client = Client(self.server.address, timeout=120)
        self.ledger = Ledger()
        self.client.provision(ENV, "basic")
        populate(self.client, ENV)
        self.client.put_artifact(ENV, "assembly", "Base.dll", rng.randbytes(2 * MB))
        self.backup()

    def backup(self) -> str:
        held = listing(self.client, ENV)
        name = self.client.create_backup(ENV).result().backup.name
        self.ledger.add(name, held)
        return name

    def outage(self, seconds: float) -> None:
        self.azurite.stop()
        try:
            time.sleep(seconds)
        finally:
            self.azurite.start()

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def _during(handle: Operation, phase: str, nbytes: int) -> None:
    """Follows an operation until it is in ``phase`` with ``nbytes`` done (or ends)."""
    for event in handle.progress():
        if event.progress.phase == phase and event.progress.bytes_done >= nbytes:
            return


def _outcome(call: Callable[[], object], figures: Figures, where: str) -> tuple[str, object]:
    try:
        return "succeeded", call()
    except StowageError as e:
        if e.code in BAD_CODES or not e.reason:
            figures.problem("bad_statuses", f"{where}: unnamed failure {e}")
        elif e.reason != "STORAGE_UNAVAILABLE":
            figures.problem("bad_statuses", f"{where}: expected STORAGE_UNAVAILABLE, got {e}")
        return f"failed {e.code.name} {e.reason}", None


def backup_through_a_brief_outage(bed: AzuriteBed, round_: int) -> None:
    where = "Azurite stopped for a moment during a backup"
    client, figures, rng = bed.client, bed.figures, bed.rng
    client.put_artifact(ENV, "assembly", "Fresh.dll", rng.randbytes(16 * MB))
    held = listing(client, ENV)
    handle = client.create_backup(ENV)
    _during(handle, "upload", 2 * MB + rng.randrange(6 * MB))
    bed.outage(rng.uniform(0.0, 1.0))
    outcome, op = _outcome(handle.result, figures, where)
    if op is not None:
        bed.ledger.add(handle.result().backup.name, held)
    audit(client, bed.ledger, figures, where)
    if op is None:
        bed.backup()
    figures.fault(where, outcome)


def restore_through_a_long_outage(bed: AzuriteBed, round_: int) -> None:
    where = "Azurite down during a restore, beyond the retry budget"
    client, figures = bed.client, bed.figures
    source = bed.ledger.names()[-1]
    target = f"cloudy-r{round_}"
    handle = client.restore(source, target)
    _during(handle, "verify", 1)
    bed.outage(LONG_OUTAGE)
    outcome, op = _outcome(handle.result, figures, where)
    try:
        client.get_environment(target)
        exists = True
    except EnvironmentNotFound:
        exists = False
    if exists != (op is not None):
        figures.problem(
            "listable_partial_backups", f"{where}: {outcome}, environment exists: {exists}"
        )
    if not exists:
        client.restore(source, target).result()
    environment_matches(client, target, bed.ledger.expected[source], figures, where)
    client.delete_environment(target)
    audit(client, bed.ledger, figures, where)
    figures.fault(where, outcome)


def backup_after_a_restart(bed: AzuriteBed, round_: int) -> None:
    where = "Azurite restarted between operations"
    bed.outage(0.0)
    outcome, _ = _outcome(bed.backup, bed.figures, where)
    if outcome != "succeeded":
        bed.figures.problem("lost_backups", f"{where}: the next backup {outcome}")
    audit(bed.client, bed.ledger, bed.figures, where)
    bed.figures.fault(where, outcome)


def verify_through_a_long_outage(bed: AzuriteBed, round_: int) -> None:
    where = "Azurite down during a verify"
    handle = bed.client.verify_repository(read_data=True)
    bed.outage(LONG_OUTAGE)
    outcome, _ = _outcome(handle.result, bed.figures, where)
    audit(bed.client, bed.ledger, bed.figures, where)
    bed.figures.fault(where, outcome)


CASES = {
    "backup": backup_through_a_brief_outage,
    "restore": restore_through_a_long_outage,
    "restart": backup_after_a_restart,
    "verify": verify_through_a_long_outage,
}


def run_azurite_faults(root: Path, azurite: Azurite, scale: Scale, figures: Figures) -> None:
    """The cases ``scale.azurite_cases`` names, ``scale.fault_rounds`` times each."""
    bed = AzuriteBed(root, azurite, figures, random.Random(f"{scale.seed}-azurite"))
    try:
        for round_ in range(scale.fault_rounds):
            for name in scale.azurite_cases:
                CASES[name](bed, round_)
    finally:
        bed.close()
