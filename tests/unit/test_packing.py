"""Small artifacts are packed: a backup of 20,000 of them costs a few object writes."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_server.app import assemble
from stowage_server.clock import SystemClock
from stowage_server.config import load

from ..storage.counting import CountingStore


def artifact_text(rng: random.Random, i: int) -> bytes:
    words = [b"<Segment id='%d'>" % i, b"ISA*00*", b"GS*PO*", b"ST*850*", b"</Segment>"]
    size = rng.randint(1024, 8192)
    body = b" ".join(rng.choice(words) + b"%06d" % rng.randrange(10**6) for _ in range(size // 16))
    return body[:size]


async def test_backup_of_20000_small_artifacts_writes_fewer_than_500_objects(
    tmp_path: Path,
) -> None:
    counter: list[CountingStore] = []

    def wrap(store):  # type: ignore[no-untyped-def]
        counter.append(CountingStore(store))
        return counter[0]

    cfg = load({"data_dir": str(tmp_path), "key": ""}, environ={})
    engines = await assemble(cfg, SystemClock(), wrap_store=wrap)
    try:
        await engines.environments.provision(
            env_pb.ProvisionEnvironmentRequest(
                environment_id="many",
                environment=env_pb.Environment(edition=common_pb2.EDITION_BASIC),
            )
        )
        rng = random.Random(3)

        async def stream():  # type: ignore[no-untyped-def]
            for i in range(20_000):
                yield env_pb.ImportArtifactsRequest(
                    artifact=env_pb.Artifact(name=f"environments/many/transforms/t{i:05d}.xslt"),
                    data=artifact_text(rng, i),
                )

        count, total = await engines.artifacts.import_(stream())
        assert count == 20_000
        store = counter[0]
        store.calls.clear()
        store.written.clear()
        started = time.perf_counter()
        op = await engines.backups.start(bk_pb.CreateBackupRequest(parent="environments/many"))
        while not (op := await engines.operations.get(op.name.split("/")[1])).done:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        assert op.state == ops_pb.Operation.STATE_SUCCEEDED, op.error
        writes = store.calls["write"]
        kinds = sorted({k.split("/")[0] for k in store.written})
        print(
            f"\n20,000 artifacts ({total / 2**20:.0f} MiB): {writes} object writes {kinds}, "
            f"{op.backup.added_bytes / 2**20:.1f} MiB stored, backup took {elapsed:.1f}s"
        )
        assert writes < 500
        assert op.backup.artifact_count == 20_000
    finally:
        await engines.close()
