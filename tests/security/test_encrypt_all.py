"""--encrypt-all: no artifact content and no secret appears in plaintext in any
repository file, and everything still restores."""

from __future__ import annotations

from pathlib import Path

import pytest

from stowage.client import Client
from stowage_server.app import StartupError, assemble
from stowage_server.clock import SystemClock
from stowage_server.config import load

from ..conftest import ServerThread
from ..sample import SECRETS, full_settings, populate, small_contents, write_assembly


def markers(assembly: Path) -> list[bytes]:
    content = assembly.read_bytes()
    found = [v[:24] for v in SECRETS.values()]
    found += [c[:24] for _, c, _ in small_contents().values()]
    found += [content[i : i + 32] for i in range(0, len(content), len(content) // 8)]
    return found


def plaintext_in(repository: Path, wanted: list[bytes]) -> list[tuple[str, bytes]]:
    hits = []
    for path in sorted(p for p in repository.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits += [(str(path.relative_to(repository)), m) for m in wanted if m in data]
    return hits


def back_up(data: Path, assembly: Path, **options: str) -> None:
    server = ServerThread(data, **options)
    try:
        with Client(server.address) as c:
            c.provision("sealed", "standard", settings=full_settings())
            populate(c, "sealed", assembly)
            backup = c.create_backup("sealed").result().backup
            c.restore(backup.name, "sealed-copy").result()
            copy = c.get_environment("sealed-copy", full=True)
            assert (
                copy.settings.ssl_certificate_password.value == SECRETS["ssl_certificate_password"]
            )
            restored = b"".join(c.read_artifact("sealed-copy", "assembly", "Contoso.Maps.dll"))
            assert restored == assembly.read_bytes()
            assert c.verify_repository(read_data=True).result().verify.ok
    finally:
        server.stop()


def test_no_content_and_no_secret_in_plaintext(tmp_path: Path) -> None:
    assembly = tmp_path / "Contoso.Maps.dll"
    write_assembly(assembly, 900 * 1024)
    wanted = markers(assembly)

    back_up(tmp_path / "sealed", assembly, encrypt_all="true")
    assert plaintext_in(tmp_path / "sealed" / "repository", wanted) == []

    # The same scan finds content in a repository that encrypts secrets only.
    back_up(tmp_path / "plain", assembly)
    found = {m for _, m in plaintext_in(tmp_path / "plain" / "repository", wanted)}
    assert any(m in found for m in wanted[-8:])  # the assembly's bytes
    assert not any(v[:24] in found for v in SECRETS.values())  # secrets are always sealed


async def test_encryption_is_chosen_when_a_repository_is_created(tmp_path: Path) -> None:
    plain = load({"data_dir": str(tmp_path), "key": ""}, environ={})
    await (await assemble(plain, SystemClock())).close()
    sealed = load({"data_dir": str(tmp_path), "key": "", "encrypt_all": "true"}, environ={})
    with pytest.raises(StartupError, match="created without --encrypt-all"):
        await assemble(sealed, SystemClock())


def test_rotation_rewraps_the_content_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerThread(data, encrypt_all="true")
    try:
        with Client(server.address) as c:
            c.provision("sealed", "basic", settings=full_settings())
            populate(c, "sealed")
            backup = c.create_backup("sealed").result().backup
            assert c.rotate_key().result().rotate_key.content_key_rewrapped
    finally:
        server.stop()
    server = ServerThread(data, encrypt_all="true")  # opens the content key with the new key
    try:
        with Client(server.address) as c:
            c.restore(backup.name, "sealed-copy").result()
            assert c.verify_repository(read_data=True).result().verify.ok
            copy = c.get_environment("sealed-copy", full=True)
            assert copy.settings.access_control_key.value == SECRETS["access_control_key"]
    finally:
        server.stop()
