"""Load: for a bounded time, one backup after another of each of 16
environments at once, 4 restores at a time, and a stream of management writes
to the environments being backed up.

Every write is one ImportArtifacts stream that sets ``item-N`` and a counter
to N in one transaction, so an environment at any instant holds item-1..item-N
and counter N, and the write log says which N could have been current while a
backup ran: at least the last write acknowledged before the backup was asked
for, at most the last write begun before it ended. Every backup is checked
against that window (its manifest read directly from the repository), and a
sample is restored through the server and checked the same way.

Nothing may deadlock: every thread stops by itself after the time is up, and
one that is still busy a bounded while later counts as stalled.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from stowage.client import Client
from stowage.errors import StowageError
from stowage.v1 import environments_pb2 as env_pb

from ..conftest import ServerProcess
from .figures import Figures
from .offline_repository import OfflineRepository, StoredBackup
from .scale import Scale

ITEM_KIND, COUNTER_KIND = env_pb.ARTIFACT_KIND_TRANSFORM, env_pb.ARTIFACT_KIND_TEMPLATE
# How long after the end of the run every thread must have stopped.
STOP_WITHIN = 180.0


def item_content(n: int) -> bytes:
    return (f"item-{n};" * (1 + n % 40)).encode()


def item_digest(n: int) -> str:
    return hashlib.sha256(item_content(n)).hexdigest()


class WriteLog:
    """Per environment: the last write begun and the last acknowledged."""

    def __init__(self) -> None:
        self.begun = 0
        self.acked = 0
        self.lock = threading.Lock()

    def begin(self) -> int:
        with self.lock:
            self.begun += 1
            return self.begun

    def ack(self, n: int) -> None:
        with self.lock:
            self.acked = n


@dataclass(frozen=True)
class Taken:
    """A backup and the window of counters its instant may have seen."""

    name: str
    environment: str
    at_least: int
    at_most: int


def write(client: Client, env: str, n: int) -> None:
    client.environments.ImportArtifacts(
        iter(
            [
                env_pb.ImportArtifactsRequest(
                    artifact=env_pb.Artifact(name=f"environments/{env}/transforms/item-{n}"),
                    data=item_content(n),
                ),
                env_pb.ImportArtifactsRequest(
                    artifact=env_pb.Artifact(name=f"environments/{env}/templates/counter"),
                    data=str(n).encode(),
                ),
            ]
        ),
        timeout=60,
    )


def consistent(counter: int, items: dict[str, str], taken: Taken) -> str:
    """'' when the state is one instant of the write log inside the window; else why not."""
    want = {f"item-{k}": item_digest(k) for k in range(1, counter + 1)}
    if items != want:
        return f"counter {counter} but {len(items)} items (or other content)"
    if not taken.at_least <= counter <= taken.at_most:
        return f"counter {counter} outside [{taken.at_least}, {taken.at_most}]"
    return ""


class LoadRun:
    def __init__(self, root: Path, scale: Scale, figures: Figures) -> None:
        self.root = root
        self.scale = scale
        self.figures = figures
        self.server = ServerProcess(root / "data")
        self.envs = [f"load{i:02d}" for i in range(scale.load_environments)]
        self.logs = {env: WriteLog() for env in self.envs}
        self.taken: list[Taken] = []
        self.taken_lock = threading.Lock()
        self.stop = threading.Event()
        self.rng = random.Random(f"{scale.seed}-load")

    def _client(self) -> Client:
        return Client(self.server.address, timeout=120)

    def _guard(self, what: str, body) -> None:  # type: ignore[no-untyped-def]
        try:
            with self._client() as client:
                body(client)
        except Exception as e:  # a failed call under load is a finding, not a crash
            self.figures.problem("lost_backups", f"load: {what}: {e!r}")

    def writer(self, envs: list[str]) -> None:
        def body(client: Client) -> None:
            while not self.stop.is_set():
                for env in envs:
                    log = self.logs[env]
                    n = log.begin()
                    started = time.perf_counter()
                    write(client, env, n)
                    self.figures.latency("management write", time.perf_counter() - started)
                    log.ack(n)

        self._guard(f"writer of {envs}", body)

    def backer(self, env: str) -> None:
        def body(client: Client) -> None:
            log = self.logs[env]
            while not self.stop.is_set():
                at_least = log.acked
                started = time.perf_counter()
                op = client.create_backup(env).result()
                self.figures.latency("backup", time.perf_counter() - started)
                with self.taken_lock:
                    self.taken.append(Taken(op.backup.name, env, at_least, log.begun))

        self._guard(f"backups of {env}", body)

    def restorer(self, index: int) -> None:
        def body(client: Client) -> None:
            rng = random.Random(f"{self.scale.seed}-restorer-{index}")
            count = 0
            while not self.stop.is_set():
                with self.taken_lock:
                    choices = list(self.taken)
                if not choices:
                    time.sleep(0.05)
                    continue
                taken = rng.choice(choices)
                target = f"lr{index}-{count}"
                count += 1
                started = time.perf_counter()
                client.restore(taken.name, target).result()
                self.figures.latency("restore", time.perf_counter() - started)
                items = {
                    a.name.rsplit("/", 1)[1]: a.sha256
                    for a in client.list_artifacts(target, ITEM_KIND)
                }
                counter = int(b"".join(client.read_artifact(target, COUNTER_KIND, "counter")))
                why = consistent(counter, items, taken)
                if why:
                    self.figures.problem(
                        "inconsistent_snapshots", f"load: restored {taken.name}: {why}"
                    )
                self.figures.snapshots_checked += 1
                client.delete_environment(target)

        self._guard(f"restorer {index}", body)

    def run(self) -> None:
        with self._client() as client:
            for env in self.envs:
                client.provision(env, "basic")
                client.put_artifact(env, "assembly", "Shared.dll", self.rng.randbytes(256 * 1024))
                write(client, env, self.logs[env].begin())
                self.logs[env].ack(1)
        threads = [
            threading.Thread(target=self.writer, args=(self.envs[w :: self.scale.load_writers],))
            for w in range(self.scale.load_writers)
        ]
        threads += [threading.Thread(target=self.backer, args=(env,)) for env in self.envs]
        threads += [
            threading.Thread(target=self.restorer, args=(i,))
            for i in range(self.scale.load_restorers)
        ]
        for t in threads:
            t.daemon = True
            t.start()
        self.stop.wait(self.scale.load_seconds)
        self.stop.set()
        deadline = time.monotonic() + STOP_WITHIN
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        stalled = sum(t.is_alive() for t in threads)
        if stalled:
            self.figures.problem(
                "stalled_operations",
                f"load: {stalled} thread(s) still busy {STOP_WITHIN:g} s after the end",
            )
        self.check_every_backup()
        with self._client() as client:
            client.list_environments()  # still serving

    def check_every_backup(self) -> None:
        """Each backup's manifest, read from the repository, is one instant."""
        key = (self.root / "data" / "stowage.key").read_text().strip()
        by_name = {t.name: t for t in self.taken}

        async def check() -> None:
            repo = await OfflineRepository.open(self.root / "data" / "repository", key)
            try:
                stored = {b.name: b for b in await repo.backups()}
                for name, taken in sorted(by_name.items()):
                    backup = stored.get(name)
                    if backup is None:
                        self.figures.problem(
                            "lost_backups", f"load: {name} is not in the repository"
                        )
                        continue
                    why = await self._manifest_consistent(repo, backup, taken)
                    if why:
                        self.figures.problem("inconsistent_snapshots", f"load: {name}: {why}")
                    self.figures.snapshots_checked += 1
            finally:
                await repo.close()

        asyncio.run(check())

    @staticmethod
    async def _manifest_consistent(
        repo: OfflineRepository, backup: StoredBackup, taken: Taken
    ) -> str:
        items: dict[str, str] = {}
        counter = -1
        for item in backup.manifest.items:
            if item.kind == ITEM_KIND:
                items[item.id] = bytes(item.sha256).hex()
            elif item.kind == COUNTER_KIND and item.id == "counter":
                counter = int(await repo.content(item))
        return consistent(counter, items, taken)

    def close(self) -> None:
        if self.server.proc.poll() is None:
            self.server.terminate()


def run_load(root: Path, scale: Scale, figures: Figures) -> None:
    load = LoadRun(root, scale, figures)
    try:
        load.run()
    except StowageError as e:
        figures.problem("lost_backups", f"load: {e}")
    finally:
        load.close()
