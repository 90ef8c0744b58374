"""Small contents in append-only segments: writing, reading, compaction by the
sweep, contents written before segments, and readers that race a compaction."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_server import names
from stowage_server.app import Engines
from stowage_server.errors import ConcurrentChange
from stowage_server.registry import _moved_once
from stowage_server.segments import SegmentMissing, SegmentStore

from .test_engines import backed_up, provision, put, restored

PARTNER = env_pb.ARTIFACT_KIND_PARTNER


def test_appended_pieces_read_back_alone_and_together(tmp_path: Path) -> None:
    store = SegmentStore(str(tmp_path / "segments"))
    segment, offsets = store.append([b"alpha", b"", b"bravo!"])
    assert offsets == [0, 5, 5]
    later_segment, later = store.append([b"charlie"])
    assert later_segment == segment and later == [11]
    assert store.read(segment, 5, 6) == b"bravo!"
    # Out of order, repeated and adjacent: each piece as asked.
    wanted = [(segment, 11, 7), (segment, 0, 5), (segment, 5, 6), (segment, 0, 5)]
    assert store.read_many(wanted) == [b"charlie", b"alpha", b"bravo!", b"alpha"]
    with pytest.raises(SegmentMissing):
        store.read(segment, 10, 100)
    store.close()


def test_a_full_segment_rolls_and_a_reopened_store_appends_to_the_last(tmp_path: Path) -> None:
    root = str(tmp_path / "segments")
    store = SegmentStore(root, roll_bytes=10)
    first, _ = store.append([b"0123456789"])
    second, offsets = store.append([b"abc"])
    assert second == first + 1 and offsets == [0]
    assert store.current == second
    with pytest.raises(ValueError):
        store.remove(second)
    store.remove(first)
    with pytest.raises(SegmentMissing):
        store.read(first, 0, 1)
    store.close()
    again = SegmentStore(root, roll_bytes=10)
    assert again.current == second
    assert again.append([b"d"]) == (second, [3])
    again.close()


def _segment_files(e: Engines) -> list[int]:
    return e.registry.content.segments.segments()


async def test_small_artifacts_live_in_segments_not_in_the_database(engines: Engines) -> None:
    await provision(engines, "segs")
    for n in range(20):
        await put(engines, "segs", PARTNER, f"p{n}", f"partner {n} ".encode() * 50)
    assert _segment_files(engines)
    with engines.db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM content_bytes").fetchone()[0] == 0
        placed = conn.execute(
            "SELECT COUNT(*) FROM contents WHERE is_inline AND segment IS NOT NULL"
        ).fetchone()[0]
    assert placed == 20
    record, info = await engines.artifacts.get("environments/segs/partners/p7")
    assert info.inline == b"partner 7 " * 50
    assert record.size == 500


async def test_the_sweep_compacts_mostly_dead_segments_and_keeps_the_living(
    engines: Engines,
) -> None:
    segments = engines.registry.content.segments
    segments.roll_bytes = 2000  # a segment of a few artifacts each
    await provision(engines, "compact")
    bodies = {f"p{n}": os.urandom(600) for n in range(12)}
    for name, body in bodies.items():
        await put(engines, "compact", PARTNER, name, body)
    # A crash between an append and its rows leaves bytes no row names.
    segments.append([os.urandom(3000)])
    # And a segment file created but never written to.
    open(segments.path(0), "wb").close()
    before = _segment_files(engines)
    assert len(before) >= 4
    for n in range(12):
        if n % 4:
            await engines.artifacts.delete(f"environments/compact/partners/p{n}")
    assert engines.registry.sweep_contents(grace=0) == 9
    after = _segment_files(engines)
    assert len(after) < len(before)
    assert all(s not in after for s in before[:-1])  # every old segment compacted away
    for n in range(0, 12, 4):
        _, info = await engines.artifacts.get(f"environments/compact/partners/p{n}")
        assert info.inline == bodies[f"p{n}"]
    # The survivors still back up and restore.
    backup = await backed_up(engines, "compact")
    assert backup.state == ops_pb.Operation.STATE_SUCCEEDED
    op = await restored(
        engines,
        bk_pb.RestoreBackupRequest(backup=backup.backup.name, environment_id="compact-copy"),
    )
    assert op.state == ops_pb.Operation.STATE_SUCCEEDED, op.error
    _, info = await engines.artifacts.get("environments/compact-copy/partners/p8")
    assert info.inline == bodies["p8"]


async def test_contents_written_before_segments_stay_readable(engines: Engines) -> None:
    """A registry from before segments keeps small bytes in content_bytes."""
    await provision(engines, "older")
    body = b"an older partner profile"
    digest = hashlib.sha256(body).digest()
    with engines.db.write() as conn:
        conn.execute(
            "INSERT INTO contents (sha256, size, is_inline, chunks, chunker, create_time) "
            "VALUES (?, ?, 1, NULL, 'x', 0)",
            (digest, len(body)),
        )
        conn.execute("INSERT INTO content_bytes (sha256, data) VALUES (?, ?)", (digest, body))
    assert engines.registry.content_info(digest).inline == body
    assert engines.registry.inline_contents([digest]) == {digest: body}
    # The same content put again is known: nothing is appended for it.
    await put(engines, "older", PARTNER, "old", body)
    assert sum(engines.registry.content.segments.size(s) for s in _segment_files(engines)) == 0


async def test_a_reader_whose_segment_was_compacted_reads_the_rows_again(
    engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    await provision(engines, "racy")
    await put(engines, "racy", PARTNER, "p", b"profile bytes")
    segments = engines.registry.content.segments
    real_read = segments.read
    calls = []

    def read_once_gone(segment: int, offset: int, length: int) -> bytes:
        calls.append(segment)
        if len(calls) == 1:
            raise SegmentMissing("compacted after the snapshot")
        return real_read(segment, offset, length)

    monkeypatch.setattr(segments, "read", read_once_gone)
    _, info = await engines.artifacts.get("environments/racy/partners/p")
    assert info.inline == b"profile bytes" and len(calls) == 2


def test_a_read_that_misses_twice_is_a_concurrent_change() -> None:
    attempts = []

    def gone() -> bytes:
        attempts.append(1)
        raise SegmentMissing("gone")

    with pytest.raises(ConcurrentChange):
        _moved_once(gone)
    assert len(attempts) == 2


async def test_an_import_that_repeats_content_stores_it_once(engines: Engines) -> None:
    """Two artifacts of one content in one import batch: one segment entry for
    the small content, one file for the large, no staging file left behind."""
    await provision(engines, "twice")
    small, large = b"<same partner/>" * 10, os.urandom(200_000)

    async def stream():  # type: ignore[no-untyped-def]
        for kind, name, body in [
            (PARTNER, "a", small),
            (PARTNER, "b", small),
            (env_pb.ARTIFACT_KIND_ASSEMBLY, "A.dll", large),
            (env_pb.ARTIFACT_KIND_ASSEMBLY, "B.dll", large),
        ]:
            yield env_pb.ImportArtifactsRequest(
                artifact=env_pb.Artifact(name=names.artifact_name("twice", kind, name))
            )
            yield env_pb.ImportArtifactsRequest(data=body)

    assert await engines.artifacts.import_(stream()) == (4, 2 * len(small) + 2 * len(large))
    segments = engines.registry.content.segments
    assert sum(segments.size(s) for s in segments.segments()) == len(small)
    assert os.listdir(os.path.join(engines.registry.content.root, "tmp")) == []
    _, info = await engines.artifacts.get("environments/twice/assemblies/B.dll")
    assert engines.registry.read_content(info, 0, info.size) == large
