"""Crash points: `stowage serve` killed with SIGKILL at random moments of an
operation, then restarted and audited.

Each point: start the operation, kill the server after a random delay or at a
random progress event, start it again on the same data directory, check what
the killed operation became (interrupted, or finished, or committed just before
the kill), audit the repository (every completed backup listed and nothing
else, ``verify --read-data`` ok, every backup restored byte for byte), and
finally retry, which must succeed.

One scenario per operation kind: backup, restore, prune, copy and key
rotation. A scenario is a class with ``prepare`` (once), ``start`` (the
operation to kill), ``inspect`` (what the killed operation left) and
``recover`` (the retry), registered in SCENARIOS.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from stowage.client import Client
from stowage.errors import EnvironmentNotFound, StowageError, from_status
from stowage.operation import Operation
from stowage.v1 import operations_pb2 as ops_pb
from stowage_server.settings import SECRET_FIELDS

from ..conftest import ServerProcess
from ..sample import full_settings, populate
from .audit import Ledger, audit, environment_matches, listing
from .figures import Figures
from .offline_repository import OfflineRepository, StoredBackup
from .scale import Scale

Op = ops_pb.Operation
UPLOAD_LIMIT = "8MiB"


class CrashBed:
    """One data directory and the `stowage serve` process over it."""

    def __init__(self, root: Path, figures: Figures, *flags: str) -> None:
        self.root = root
        self.data = root / "data"
        self.figures = figures
        self.flags = ("--upload-limit", UPLOAD_LIMIT, *flags)
        self.ledger = Ledger()
        self.server = ServerProcess(self.data, *self.flags)
        self.client = Client(self.server.address, timeout=120)
        # Durations and event counts of completed operations, by kind: where
        # the random moments are drawn from.
        self.observed: dict[str, list[tuple[float, int]]] = {}

    @property
    def key_hex(self) -> str:
        return (self.data / "stowage.key").read_text().strip()

    def kill(self) -> None:
        self.server.kill()

    def restart(self) -> None:
        self.client.close()
        self.server.kill()
        self.server = ServerProcess(self.data, *self.flags)
        self.client = Client(self.server.address, timeout=120)

    def close(self) -> None:
        self.client.close()
        if self.server.proc.poll() is None:
            self.server.terminate()

    def finish(self, kind: str, handle: Operation) -> Op:
        """Waits for an operation that must succeed; remembers how long it took."""
        op = handle.result()
        seconds = (op.end_time.ToNanoseconds() - op.start_time.ToNanoseconds()) / 1e9
        self.observed.setdefault(kind, []).append((seconds, op.last_sequence))
        return op

    def estimate(self, kind: str) -> tuple[float, int]:
        seen = self.observed.get(kind) or [(2.0, 8)]
        seconds = sorted(s for s, _ in seen)[len(seen) // 2]
        events = sorted(n for _, n in seen)[len(seen) // 2]
        return seconds, events

    def kill_at_random_moment(self, kind: str, handle: Operation, rng: random.Random) -> None:
        seconds, events = self.estimate(kind)
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0, seconds * 1.1))
        else:
            target = rng.randint(1, max(1, events))
            stream = handle.progress()
            for n, _ in enumerate(stream, 1):
                if n >= target:
                    break
            stream.close()
        self.kill()


def phase_at_kill(client: Client, name: str) -> str:
    """The phase of the last event the killed server saved, from the event log."""
    events = list(client.operation(name).progress())
    before = [e for e in events if not e.HasField("operation")]
    return before[-1].progress.phase if before else "queued"


def outcome_of(op: Op) -> str:
    """finished (SUCCEEDED: the kill came after the end) or interrupted; '' otherwise."""
    if op.state == Op.STATE_SUCCEEDED:
        return "finished"
    if op.state == Op.STATE_FAILED and from_status(op.error).reason == "INTERRUPTED":
        return "interrupted"
    return ""


def random_bytes(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


class CrashScenario:
    kind = ""
    environment = ""

    def __init__(self, bed: CrashBed, scale: Scale, rng: random.Random) -> None:
        self.bed = bed
        self.scale = scale
        self.rng = rng

    @staticmethod
    def flags(root: Path) -> tuple[str, ...]:
        return ()

    @property
    def client(self) -> Client:
        return self.bed.client

    @property
    def figures(self) -> Figures:
        return self.bed.figures

    def provision(self, env: str) -> None:
        self.client.provision(env, "basic")
        populate(self.client, env)
        self.client.put_artifact(
            env, "assembly", "Base.dll", random_bytes(self.rng, self.scale.base_bytes)
        )

    def backup(self, env: str) -> str:
        """A backup that must succeed, added to the ledger."""
        held = listing(self.client, env)
        op = self.bed.finish("backup", self.client.create_backup(env))
        self.bed.ledger.add(op.backup.name, held)
        return op.backup.name

    def prepare(self) -> None:
        raise NotImplementedError

    def start(self, point: int) -> Operation:
        raise NotImplementedError

    def inspect(self, op: Op, where: str) -> str:
        """What the killed operation left, checked; returns the outcome's name."""
        raise NotImplementedError

    def recover(self, op: Op, where: str) -> None:
        """The retry after the crash; it must succeed."""
        raise NotImplementedError

    def audit_extra(self, where: str) -> None:
        """Checks beyond the server's own repository (the copy's destination)."""


class BackupCrash(CrashScenario):
    """Killed while backing up fresh data: nothing listable unless it completed."""

    kind = "backup"
    environment = "crashed"

    def prepare(self) -> None:
        self.provision(self.environment)
        self.backup(self.environment)

    def start(self, point: int) -> Operation:
        env = self.environment
        self.client.put_artifact(
            env, "assembly", "Fresh.dll", random_bytes(self.rng, self.scale.fresh_bytes)
        )
        self.client.put_artifact(
            env, "bridge", "OrderBridge", f"<Bridge round='{point}'/>".encode()
        )
        self.held = listing(self.client, env)
        return self.client.create_backup(env)

    def inspect(self, op: Op, where: str) -> str:
        outcome = outcome_of(op)
        ledger = self.bed.ledger
        new = [
            b.name
            for b in self.client.list_backups(self.environment)
            if b.name not in ledger.expected
        ]
        if outcome == "finished":
            if new != [op.backup.name]:
                self.figures.problem(
                    "lost_backups", f"{where}: succeeded as {op.backup.name}, listed {new}"
                )
            ledger.add(op.backup.name, self.held)
        elif outcome == "interrupted" and new:
            # The record was written just before the kill: complete, so listed.
            if len(new) > 1:
                self.figures.problem("listable_partial_backups", f"{where}: listed {new}")
            ledger.add(new[0], self.held)
            outcome = "committed, then killed"
        return outcome

    def recover(self, op: Op, where: str) -> None:
        self.backup(self.environment)


class RestoreCrash(CrashScenario):
    """Killed while restoring: the environment exists whole, or not at all."""

    kind = "restore"
    environment = "restored"

    def prepare(self) -> None:
        env = self.environment
        self.provision(env)
        self.client.put_artifact(
            env, "assembly", "Fresh.dll", random_bytes(self.rng, self.scale.fresh_bytes)
        )
        self.backup(env)
        # One restore to calibrate the moments.
        name = self.bed.ledger.names()[0]
        self.bed.finish("restore", self.client.restore(name, "calibration"))
        self.client.delete_environment("calibration")

    def start(self, point: int) -> Operation:
        self.source = self.rng.choice(self.bed.ledger.names())
        self.target = f"rs{point:05d}"
        return self.client.restore(self.source, self.target)

    def _exists(self) -> bool:
        try:
            self.client.get_environment(self.target)
        except EnvironmentNotFound:
            return False
        return True

    def inspect(self, op: Op, where: str) -> str:
        outcome = outcome_of(op)
        exists = self._exists()
        if outcome == "finished" and not exists:
            self.figures.problem("lost_backups", f"{where}: restore succeeded, no {self.target}")
        if outcome == "interrupted" and exists:
            outcome = "committed, then killed"
        if exists:
            expected = self.bed.ledger.expected[self.source]
            environment_matches(self.client, self.target, expected, self.figures, where)
        return outcome

    def recover(self, op: Op, where: str) -> None:
        if not self._exists():
            self.bed.finish("restore", self.client.restore(self.source, self.target))
            expected = self.bed.ledger.expected[self.source]
            environment_matches(self.client, self.target, expected, self.figures, where)
        self.client.delete_environment(self.target)


class PruneCrash(CrashScenario):
    """Killed while pruning, with live blobs to move out of packs being deleted."""

    kind = "prune"
    environment = "pruned"

    def prepare(self) -> None:
        self.provision(self.environment)
        self.backup(self.environment)
        self.kept: list[str] = []

    def start(self, point: int) -> Operation:
        env, client = self.environment, self.client
        for artifact_id in self.kept:
            client.delete_artifact(env, "assembly", artifact_id)
        # Sorted by id, each dropped artifact sits beside a kept one, in the same packs.
        pairs = [
            (f"r{point:04d}-{p}-0drop.dll", f"r{point:04d}-{p}-1keep.dll")
            for p in range(self.scale.prune_pairs)
        ]
        for drop, keep in pairs:
            for artifact_id in (drop, keep):
                client.put_artifact(
                    env,
                    "assembly",
                    artifact_id,
                    random_bytes(self.rng, self.scale.prune_pair_bytes),
                )
        doomed = self.backup(env)
        for drop, _ in pairs:
            client.delete_artifact(env, "assembly", drop)
        self.backup(env)
        client.delete_backup(doomed)
        self.bed.ledger.remove(doomed)
        self.kept = [keep for _, keep in pairs]
        return client.prune_repository()

    def inspect(self, op: Op, where: str) -> str:
        return outcome_of(op)

    def recover(self, op: Op, where: str) -> None:
        self.bed.finish("prune", self.client.prune_repository())


class CopyCrash(CrashScenario):
    """Killed while copying a backup to a second repository on disk: the copy is
    there whole (record last) or not at all, and the destination stays sound."""

    kind = "copy"
    environment = "copied"

    @staticmethod
    def flags(root: Path) -> tuple[str, ...]:
        return ("--copy-destinations", f"file://{root / 'dr'}")

    @property
    def destination(self) -> str:
        return f"file://{self.bed.root / 'dr'}"

    def prepare(self) -> None:
        self.copied: set[str] = set()
        self.provision(self.environment)
        first = self.backup(self.environment)
        self.bed.finish("copy", self.client.copy_backup(first, self.destination))
        self.copied.add(first)

    def start(self, point: int) -> Operation:
        env = self.environment
        self.client.put_artifact(
            env, "assembly", "Fresh.dll", random_bytes(self.rng, self.scale.fresh_bytes)
        )
        self.source = self.backup(env)
        return self.client.copy_backup(self.source, self.destination)

    def _in_destination(self) -> set[str]:
        return {b.name for b in self._destination_backups()}

    def _destination_backups(self) -> list[StoredBackup]:
        """Every backup in the destination, each read back whole, offline."""

        async def read() -> list[StoredBackup]:
            repo = await OfflineRepository.open(self.bed.root / "dr", self.bed.key_hex)
            try:
                out = await repo.backups()
                for b in out:
                    await repo.check_restorable(b)
                return out
            finally:
                await repo.close()

        return asyncio.run(read())

    def inspect(self, op: Op, where: str) -> str:
        outcome = outcome_of(op)
        there = self.source in self._in_destination()
        if outcome == "finished" and not there:
            self.figures.problem("lost_backups", f"{where}: copy succeeded, {self.source} absent")
        if outcome == "interrupted" and there:
            outcome = "committed, then killed"
        if there:
            self.copied.add(self.source)
        return outcome

    def audit_extra(self, where: str) -> None:
        try:
            stored = self._destination_backups()
        except Exception as e:  # any failure to read a copied backup back
            self.figures.problem("corrupt_repositories", f"{where}: destination: {e!r}")
            return
        names = {b.name for b in stored}
        for name in self.copied - names:
            self.figures.problem("lost_backups", f"{where}: {name} vanished from the destination")
        for name in names - self.copied:
            self.figures.problem("listable_partial_backups", f"{where}: {name} in the destination")
        for b in stored:
            if b.listing() != self.bed.ledger.expected.get(b.name):
                self.figures.problem(
                    "lost_backups", f"{where}: {b.name} differs in the destination"
                )
        self.figures.restores_compared += len(stored)

    def recover(self, op: Op, where: str) -> None:
        if self.source not in self.copied:
            self.bed.finish("copy", self.client.copy_backup(self.source, self.destination))
            self.copied.add(self.source)
            self.audit_extra(f"{where}, after the retry")


class RotateKeyCrash(CrashScenario):
    """Killed while rotating the master key: every backup still opens (the audit
    restores each), with the old key or the new one, both loaded at the restart;
    the registry's secrets still open; the retry finishes the same rotation."""

    kind = "rotate-key"
    environment = "rotated"
    backups_before = 4

    def prepare(self) -> None:
        self.client.provision(self.environment, "basic", settings=full_settings())
        populate(self.client, self.environment)
        for _ in range(self.backups_before):
            self.backup(self.environment)
        self.bed.finish(self.kind, self.client.rotate_key())

    def start(self, point: int) -> Operation:
        # One more data key to wrap again each time, and a secret sealed anew.
        self.client.put_artifact(
            self.environment, "bridge", "OrderBridge", f"<Bridge round='{point}'/>".encode()
        )
        self.backup(self.environment)
        return self.client.rotate_key()

    def inspect(self, op: Op, where: str) -> str:
        outcome = outcome_of(op)
        if outcome == "interrupted" and not (self.bed.data / "stowage.key.next").exists():
            outcome = "committed, then killed"  # the new key was already promoted
        return outcome

    def recover(self, op: Op, where: str) -> None:
        self.bed.finish(self.kind, self.client.rotate_key())
        if (self.bed.data / "stowage.key.next").exists():
            self.figures.problem("lost_backups", f"{where}: a finished rotation left its next key")
        # The secrets open under the new key: a backup reads them and a restore
        # seals them again, with the same fingerprints as the source's.
        name = self.backup(self.environment)
        target = f"rk{self.rng.randrange(1 << 30):08x}"
        self.client.restore(name, target).result()
        source = self.client.get_environment(self.environment).settings
        restored = self.client.get_environment(target).settings
        for field in SECRET_FIELDS:
            if getattr(source, field).fingerprint != getattr(restored, field).fingerprint:
                self.figures.problem(
                    "lost_backups", f"{where}: secret {field} changed through backup and restore"
                )
        self.client.delete_environment(target)


SCENARIOS: dict[str, type[CrashScenario]] = {
    "backup": BackupCrash,
    "restore": RestoreCrash,
    "prune": PruneCrash,
    "copy": CopyCrash,
    "rotate-key": RotateKeyCrash,
}


def run_crash_points(kind: str, root: Path, scale: Scale, figures: Figures) -> None:
    """``scale.crash_points`` kills during operations of ``kind``, each audited."""
    cls = SCENARIOS[kind]
    rng = random.Random(f"{scale.seed}-{kind}")
    bed = CrashBed(root, figures, *cls.flags(root))
    scenario = cls(bed, scale, rng)
    try:
        scenario.prepare()
        for point in range(scale.crash_points):
            where = f"{kind} crash point {point + 1}"
            handle = scenario.start(point)
            bed.kill_at_random_moment(kind, handle, rng)
            bed.restart()
            op = bed.client.get_operation(handle.name)
            if not op.done:
                figures.problem("lost_backups", f"{where}: {op.name} still not done after restart")
            figures.crash_phases[f"{kind}: {phase_at_kill(bed.client, handle.name)}"] += 1
            outcome = scenario.inspect(op, where)
            if not outcome:
                error = from_status(op.error) if op.error.code else None
                figures.problem("lost_backups", f"{where}: the operation ended {op.state}: {error}")
                outcome = "unexpected"
            figures.crash_points[kind] += 1
            figures.crash_outcomes[f"{kind}:{outcome}"] += 1
            audit(bed.client, bed.ledger, figures, where)
            scenario.audit_extra(where)
            try:
                scenario.recover(op, where)
            except StowageError as e:
                figures.problem("lost_backups", f"{where}: the retry failed: {e}")
        audit(bed.client, bed.ledger, figures, f"{kind} crash points, the end")
    finally:
        bed.close()
