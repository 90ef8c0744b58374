"""Local-disk specifics: a crashed write leaves no visible object."""

from __future__ import annotations

from pathlib import Path

from stowage_storage.local import LocalStore


async def test_leftover_temporary_files_are_not_listed(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    await store.write("packs/ab/real", b"data")
    # What a writer killed between write and rename leaves behind.
    (tmp_path / "packs" / "ab" / ".tmp-0123").write_bytes(b"partial")
    assert [o.key for o in await store.list("packs/")] == ["packs/ab/real"]


async def test_objects_are_private_files(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path))
    await store.write("config", b"x")
    assert (tmp_path / "config").stat().st_mode & 0o077 == 0
