"""The ObjectStore conformance suite: the guarantees written in
stowage_storage/store.py, checked against every implementation."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stowage_storage.local import LocalStore
from stowage_storage.open import open_store
from stowage_storage.sidecar import Sidecar
from stowage_storage.store import ObjectExists, ObjectNotFound, ObjectStore

from ..azurite import new_container


@pytest.fixture(params=["local", "azure", "sidecar-local", "sidecar-azure"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """Every implementation, and the sidecar in front of each."""
    kind: str = request.param
    if kind.endswith("azure"):
        request.getfixturevalue("azurite")
        url = f"abfs://{new_container()}/some/prefix"
    else:
        url = str(tmp_path / "store")
    sidecar = None
    if kind.startswith("sidecar"):
        sidecar = Sidecar(url, f"unix:{tmp_path / 'sidecar.sock'}")
        await sidecar.start()
        url = f"grpc+unix:{tmp_path / 'sidecar.sock'}"
    s = LocalStore(url) if kind == "local" else await open_store(url)
    yield s
    await s.close()
    if sidecar is not None:
        await sidecar.stop()


async def test_read_after_write_and_overwrite(store: ObjectStore) -> None:
    await store.write("a/b/c", b"one")
    assert await store.read("a/b/c") == b"one"
    assert (await store.stat("a/b/c")).size == 3
    await store.write("a/b/c", b"two!")
    assert await store.read("a/b/c") == b"two!"


async def test_create_if_absent_refuses_an_existing_key(store: ObjectStore) -> None:
    await store.write("locks/x", b"first", exclusive=True)
    with pytest.raises(ObjectExists):
        await store.write("locks/x", b"second", exclusive=True)
    assert await store.read("locks/x") == b"first"


async def test_sixteen_racing_creators_exactly_one_wins(store: ObjectStore) -> None:
    async def attempt(i: int) -> bool:
        try:
            await store.write("race/object", f"writer {i}".encode(), exclusive=True)
            return True
        except ObjectExists:
            return False

    results = await asyncio.gather(*(attempt(i) for i in range(16)))
    assert sum(results) == 1
    winner = results.index(True)
    assert await store.read("race/object") == f"writer {winner}".encode()


async def test_ranged_reads(store: ObjectStore) -> None:
    data = bytes(range(256)) * 10
    await store.write("r", data)
    assert await store.read("r", 10, 20) == data[10:30]
    assert await store.read("r", 2550, 100) == data[2550:]
    assert await store.read("r", 2560, 10) == b""
    assert await store.read("r", 100) == data[100:]


async def test_a_blocking_reader_reads_as_read_does(store: ObjectStore) -> None:
    """Local disk offers reads for worker threads (a restore reads and decodes
    a pack's run in one worker call); network stores offer none."""
    read_now = store.blocking_reader()
    if read_now is None:
        assert "file://" not in store.describe()
        return
    data = bytes(range(256)) * 10
    await store.write("r/s", data)
    for offset, length in [(10, 20), (2550, 100), (2560, 10), (100, -1), (0, -1)]:
        expected = await store.read("r/s", offset, length)
        assert await asyncio.to_thread(read_now, "r/s", offset, length) == expected
    for missing in ("r/t", "r"):  # no object; a folder is no object either
        with pytest.raises(ObjectNotFound):
            await asyncio.to_thread(read_now, missing, 0, -1)
        with pytest.raises(ObjectNotFound):
            await store.read(missing)


async def test_list_by_prefix_is_sorted_and_exact(store: ObjectStore) -> None:
    for key in ["packs/ab/2", "packs/ab/1", "packs/cd/3", "index/1", "packsx/9"]:
        await store.write(key, b"x" * len(key))
    assert [o.key for o in await store.list("packs/")] == ["packs/ab/1", "packs/ab/2", "packs/cd/3"]
    assert [o.key for o in await store.list("packs/ab/")] == ["packs/ab/1", "packs/ab/2"]
    assert [(o.key, o.size) for o in await store.list("index/")] == [("index/1", 7)]
    assert await store.list("nothing/") == []


async def test_delete_and_not_found(store: ObjectStore) -> None:
    await store.write("gone", b"x")
    await store.delete("gone")
    await store.delete("gone")  # deleting a missing key is fine
    with pytest.raises(ObjectNotFound):
        await store.read("gone")
    with pytest.raises(ObjectNotFound):
        await store.stat("gone")
    assert await store.list("gone") == []


async def test_empty_object(store: ObjectStore) -> None:
    await store.write("empty", b"")
    assert await store.read("empty") == b""
    assert (await store.stat("empty")).size == 0


@pytest.mark.parametrize(
    "key", ["../escape", "/abs", "a//b", "a/./b", "A/upper", "sp ace", "", "a/.."]
)
async def test_keys_that_could_escape_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        await store.write(key, b"x")


async def test_no_partial_object_is_ever_visible(store: ObjectStore) -> None:
    """Readers racing a writer of a large object see all of it or nothing."""
    big = os.urandom(8 << 20)
    seen: list[int] = []

    async def reader() -> None:
        for _ in range(200):
            try:
                data = await store.read("big")
                seen.append(len(data))
            except ObjectNotFound:
                seen.append(0)
            await asyncio.sleep(0)

    await asyncio.gather(store.write("big", big), reader())
    assert set(seen) <= {0, len(big)}
    assert await store.read("big") == big


async def test_streamed_writes_are_whole_and_create_if_absent(store: ObjectStore) -> None:
    pieces = [os.urandom(300_000) for _ in range(5)]

    async def stream():  # type: ignore[no-untyped-def]
        for p in pieces:
            yield p

    assert await store.write_stream("blobs/big", stream()) == 1_500_000
    assert await store.read("blobs/big") == b"".join(pieces)
    with pytest.raises(ObjectExists):
        await store.write_stream("blobs/big", stream(), exclusive=True)
    await store.write_stream("blobs/big", stream())  # overwrite is fine


async def test_a_failed_stream_leaves_nothing(store: ObjectStore) -> None:
    async def broken():  # type: ignore[no-untyped-def]
        yield b"x" * 1000
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await store.write_stream("blobs/half", broken())
    with pytest.raises(ObjectNotFound):
        await store.stat("blobs/half")
    assert await store.list("blobs/") == []
