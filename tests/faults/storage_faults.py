"""Storage faults through a real server whose object store misbehaves.

Each case runs on a fresh in-process server whose store has a FaultyStore
under its retry layer (``wrap_store``): one backup is taken cleanly first, then
the faults are armed and one operation runs (a backup, a restore, a verify, a
prune or a backup deletion). The operation must end in one of two ways:

- it succeeds, the transient faults retried away; or
- it fails with a named status: a code other than UNKNOWN or INTERNAL, with
  an ErrorInfo reason; then the faults are cleared and the retry succeeds.

Either way the repository is then audited: every completed backup listed and
nothing else, verify --read-data ok, every backup restored byte for byte.

Short writes are the exception by design: the backend stores a truncated
object and says it succeeded, so the repository *is* damaged. The promise there
is detection: verify --read-data names the truncated object, and a restore
that needs it fails with DATA_LOSS rather than restoring something else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import grpc

from stowage.client import Client
from stowage.errors import BackupNotFound, EnvironmentNotFound, StowageError

from ..conftest import ServerThread
from ..sample import populate
from .audit import Ledger, audit, environment_matches, listing
from .faulty_store import FaultyStore, Installer, Rule
from .figures import Figures
from .scale import MB, Scale

BAD_CODES = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
ENV = "faulty"


@dataclass(frozen=True)
class Fault:
    op: str
    action: str
    prefix: str = ""
    nth: int = 1
    times: int = 1
    delay: float = 0.0
    keep: float = 0.5


@dataclass(frozen=True)
class Case:
    name: str
    operation: str  # backup, restore, verify, prune, delete-backup
    faults: tuple[Fault, ...]
    expect: str  # success, failure, detected
    reason: str = ""  # the ErrorInfo reason a failure must carry, when known


CASES: tuple[Case, ...] = (
    # Transient failures, retried away.
    Case(
        "pack write unavailable once",
        "backup",
        (Fault("write", "unavailable", "packs/"),),
        "success",
    ),
    Case(
        "record write reply lost", "backup", (Fault("write", "lost_reply", "backups/"),), "success"
    ),
    Case(
        "manifest write reply lost",
        "backup",
        (Fault("write", "lost_reply", "manifests/"),),
        "success",
    ),
    Case(
        "index list unavailable twice",
        "backup",
        (Fault("list", "unavailable", "index/", times=2),),
        "success",
    ),
    Case(
        "pack read unavailable once",
        "restore",
        (Fault("read", "unavailable", "packs/"),),
        "success",
    ),
    Case(
        "every call slow",
        "backup",
        (Fault("write", "slow", times=0, delay=0.05), Fault("read", "slow", times=0, delay=0.05)),
        "success",
    ),
    Case("every read slow", "restore", (Fault("read", "slow", times=0, delay=0.05),), "success"),
    # Failures that outlast the retry budget, or are permanent.
    Case(
        "pack writes unavailable for good",
        "backup",
        (Fault("write", "unavailable", "packs/", times=0),),
        "failure",
        "STORAGE_UNAVAILABLE",
    ),
    Case(
        "index write rejected",
        "backup",
        (Fault("write", "rejected", "index/"),),
        "failure",
        "STORAGE_REJECTED",
    ),
    Case(
        "data key write fails",
        "backup",
        (Fault("write", "error", "keys/"),),
        "failure",
        "STORAGE_UNAVAILABLE",
    ),
    Case(
        "manifest write rejected",
        "backup",
        (Fault("write", "rejected", "manifests/"),),
        "failure",
        "STORAGE_REJECTED",
    ),
    Case(
        "record write unavailable for good",
        "backup",
        (Fault("write", "unavailable", "backups/", times=0),),
        "failure",
        "STORAGE_UNAVAILABLE",
    ),
    Case(
        "lock write rejected",
        "backup",
        (Fault("write", "rejected", "locks/"),),
        "failure",
        "STORAGE_REJECTED",
    ),
    Case(
        # The first pack read is of the manifest's item blocks, as the call
        # starts (a failure there the client's retry absorbs): this fails the
        # first read of content, inside the operation.
        "pack read fails",
        "restore",
        (Fault("read", "error", "packs/", nth=2),),
        "failure",
        "STORAGE_UNAVAILABLE",
    ),
    Case(
        "pack reads unavailable for good",
        "verify",
        (Fault("read", "unavailable", "packs/", times=0),),
        "failure",
        "STORAGE_UNAVAILABLE",
    ),
    Case(
        "index write rejected after repacking",
        "prune",
        (Fault("write", "rejected", "index/"),),
        "failure",
        "STORAGE_REJECTED",
    ),
    Case(
        "pack delete fails",
        "prune",
        (Fault("delete", "error", "packs/"),),
        "failure",
        "STORAGE_UNAVAILABLE",
    ),
    Case(
        "data key delete fails",
        "delete-backup",
        (Fault("delete", "error", "keys/"),),
        "failure",
        "STORAGE_UNAVAILABLE",
    ),
    # Short writes: the backend lies; the repository must notice.
    Case("pack written short", "backup", (Fault("write", "short", "packs/"),), "detected"),
    Case("index written short", "backup", (Fault("write", "short", "index/"),), "detected"),
    Case("manifest written short", "backup", (Fault("write", "short", "manifests/"),), "detected"),
    Case("data key written short", "backup", (Fault("write", "short", "keys/"),), "detected"),
    Case("record written short", "backup", (Fault("write", "short", "backups/"),), "detected"),
)


class FaultBed:
    """A fresh in-process server with a FaultyStore, one environment and one
    clean backup."""

    def __init__(self, root: Path, rng: random.Random, figures: Figures) -> None:
        self.installer = Installer()
        self.server = ServerThread(
            root / "data", wrap_store=self.installer, storage_retry_budget="2s"
        )
        self.client = Client(self.server.address, timeout=60)
        self.rng = rng
        self.figures = figures
        self.ledger = Ledger()
        self.client.provision(ENV, "basic")
        populate(self.client, ENV)
        self.put("Base.dll", 2 * MB)
        self.first = self.backup()

    @property
    def store(self) -> FaultyStore:
        assert self.installer.store is not None
        return self.installer.store

    def put(self, artifact_id: str, size: int) -> None:
        self.client.put_artifact(ENV, "assembly", artifact_id, self.rng.randbytes(size))

    def backup(self) -> str:
        held = listing(self.client, ENV)
        name = self.client.create_backup(ENV).result().backup.name
        self.ledger.add(name, held)
        return name

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def run_case(
    case: Case, root: Path, rng: random.Random, figures: Figures, fresh_bytes: int = 2 * MB
) -> str:
    """Runs one case; returns its outcome (recorded in ``figures`` too, unless
    the fault was never reached). The operation has up to ``fresh_bytes`` of new
    data to store."""
    bed = FaultBed(root, rng, figures)
    try:
        return _run(case, bed, fresh_bytes)
    finally:
        bed.close()


def _run(case: Case, bed: FaultBed, fresh_bytes: int) -> str:
    client, figures, where = bed.client, bed.figures, f"fault '{case.name}'"
    bed.put("Fresh.dll", fresh_bytes // 2 + bed.rng.randrange(fresh_bytes // 2))
    client.put_artifact(ENV, "bridge", "OrderBridge", bed.rng.randbytes(200))
    garbage = ""
    if case.operation == "prune":
        # Something to reclaim, in packs that also hold live blobs.
        bed.put("Gone.dll", MB)
        garbage = bed.backup()
        client.delete_artifact(ENV, "assembly", "Gone.dll")
        bed.backup()
        client.delete_backup(garbage)
        bed.ledger.remove(garbage)
    doomed = bed.backup() if case.operation == "delete-backup" else ""
    held = listing(client, ENV)
    rules = [bed.store.add(Rule(**vars(f))) for f in case.faults]
    target = "restored-under-fault"
    error: StowageError | None = None
    made = ""
    try:
        made = _operation(case.operation, bed, target, doomed)
    except StowageError as e:
        error = e
    bed.store.clear()
    injected = sum(len(r.fired) for r in rules)
    if not injected:
        return "fault never reached"
    if error is not None and (error.code in BAD_CODES or not error.reason):
        figures.problem("bad_statuses", f"{where}: unnamed failure {error}")
    outcome = "succeeded" if error is None else f"failed {error.code.name} {error.reason}"

    if case.expect == "detected":
        _check_detected(bed, case, rules, made, held, where)
        figures.fault(case.name, "detected", injected)
        return "detected"
    if case.expect == "success" and error is not None:
        figures.problem("lost_backups", f"{where}: expected a retried success, got {error}")
    if case.expect == "failure" and error is None:
        figures.problem("lost_backups", f"{where}: expected a named failure, it succeeded")
    if case.reason and error is not None and error.reason != case.reason:
        figures.problem("bad_statuses", f"{where}: expected {case.reason}, got {error}")

    if case.operation == "backup" and made:
        bed.ledger.add(made, held)
    if case.operation == "restore":
        _check_restore_target(bed, target, error is None, where)
    if case.operation == "delete-backup":
        # The record goes first: once that is gone, the backup is gone.
        if doomed not in {b.name for b in client.list_backups(ENV)}:
            bed.ledger.remove(doomed)
    audit(client, bed.ledger, figures, where)
    if error is not None:
        _retry(case.operation, bed, target, doomed, held, where)
        audit(client, bed.ledger, figures, f"{where}, after the retry")
    figures.fault(case.name, "retried, succeeded" if error is None else outcome, injected)
    return outcome


def _operation(operation: str, bed: FaultBed, target: str, doomed: str) -> str:
    client = bed.client
    if operation == "backup":
        return client.create_backup(ENV).result().backup.name
    if operation == "restore":
        client.restore(bed.first, target).result()
        return target
    if operation == "verify":
        result = client.verify_repository(read_data=True).result().verify
        if not result.ok:
            bed.figures.problem("corrupt_repositories", f"verify under faults: {result.problems}")
        return ""
    if operation == "prune":
        client.prune_repository().result()
        return ""
    if operation == "delete-backup":
        client.delete_backup(doomed)
        return ""
    raise ValueError(operation)


def _retry(operation: str, bed: FaultBed, target: str, doomed: str, held, where: str) -> None:  # type: ignore[no-untyped-def]
    client = bed.client
    try:
        if operation == "backup":
            name = client.create_backup(ENV).result().backup.name
            bed.ledger.add(name, held)
        elif operation == "restore":
            client.restore(bed.first, target).result()
            _check_restore_target(bed, target, True, f"{where}, the retry")
        elif operation == "verify":
            if not client.verify_repository(read_data=True).result().verify.ok:
                bed.figures.problem("corrupt_repositories", f"{where}: verify after the fault")
        elif operation == "prune":
            client.prune_repository().result()
        elif operation == "delete-backup":
            try:
                client.delete_backup(doomed)
            except BackupNotFound:
                pass
            bed.ledger.expected.pop(doomed, None)
    except StowageError as e:
        bed.figures.problem("lost_backups", f"{where}: the retry failed: {e}")


def _check_restore_target(bed: FaultBed, target: str, succeeded: bool, where: str) -> None:
    try:
        bed.client.get_environment(target)
    except EnvironmentNotFound:
        if succeeded:
            bed.figures.problem("lost_backups", f"{where}: restore succeeded, {target} missing")
        return
    if not succeeded:
        bed.figures.problem("listable_partial_backups", f"{where}: failed restore left {target}")
    environment_matches(bed.client, target, bed.ledger.expected[bed.first], bed.figures, where)
    bed.client.delete_environment(target)


def _check_detected(
    bed: FaultBed,
    case: Case,
    rules: list[Rule],
    made: str,
    held,
    where: str,  # type: ignore[no-untyped-def]
) -> None:
    """A truncated object: verify names it; restoring what needs it fails DATA_LOSS."""
    client, figures = bed.client, bed.figures
    truncated = [key for r in rules for key in r.fired]
    try:
        result = client.verify_repository(read_data=True).result().verify
    except StowageError as e:
        if e.code in BAD_CODES or not e.reason:
            figures.problem("bad_statuses", f"{where}: verify: {e}")
        return
    named = {p.object for p in result.problems}
    if result.ok or not set(truncated) & named:
        figures.problem(
            "corrupt_repositories",
            f"{where}: verify --read-data did not name {truncated} (ok={result.ok}, named {sorted(named)[:3]})",
        )
    if not made:
        figures.problem("lost_backups", f"{where}: the backup over a lying store did not finish")
        return
    target = "restored-after-short-write"
    try:
        client.restore(made, target).result()
    except StowageError as e:
        if e.code != grpc.StatusCode.DATA_LOSS:
            figures.problem("bad_statuses", f"{where}: restore of {made} failed with {e}")
    else:
        # Restored despite the truncation: acceptable only if it is whole and right.
        environment_matches(client, target, held, figures, f"{where}: restored anyway")


def run_storage_faults(root: Path, scale: Scale, figures: Figures) -> None:
    """Every case ``scale.fault_rounds`` times: after the first round with more
    data to store (more packs), and short writes cut at other lengths."""
    rng = random.Random(f"{scale.seed}-storage")
    for round_ in range(scale.fault_rounds):
        for i, case in enumerate(CASES):
            if round_:
                keep = rng.uniform(0.05, 0.95)
                case = replace(case, faults=tuple(replace(f, keep=keep) for f in case.faults))
            fresh = 2 * MB if not round_ else rng.randrange(2 * MB, 20 * MB)
            run_case(case, root / f"r{round_}-{i}", rng, figures, fresh)
