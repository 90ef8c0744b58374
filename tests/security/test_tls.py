"""TLS and mutual TLS round trips with certificates made at run time, and the
refusal to listen beyond loopback unprotected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stowage import errors
from stowage.client import Client
from stowage_server.app import StartupError, StowageServer
from stowage_server.config import load

from ..conftest import ServerThread, server_flags
from .certs import CA
from .conftest import Tokens


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, object]:
    folder = tmp_path / "pki"
    folder.mkdir()
    ca, other = CA(folder, "stowage-ca"), CA(folder, "other-ca")
    return {
        "ca": ca,
        "server": ca.issue("server", server=True),
        "client": ca.issue("backup-operator", server=False),
        "stranger": other.issue("stranger", server=False),
        "other": other,
    }


def test_tls_round_trip_with_a_token(tmp_path: Path, pki: dict, role_tokens: Tokens) -> None:
    server = ServerThread(
        tmp_path / "data",
        tls_cert=str(pki["server"].cert),
        tls_key=str(pki["server"].key),
        tokens_file=str(role_tokens.path),
    )
    try:
        with Client(server.address, tls_ca=pki["ca"].cert, token=role_tokens.operator) as c:
            c.provision("over-tls", "basic")
            assert c.create_backup("over-tls").result().backup.name
        # A client that does not trust the server's CA does not talk to it.
        with (
            Client(server.address, tls_ca=pki["other"].cert, timeout=5) as c,
            pytest.raises(errors.StowageError) as refused,
        ):
            c.get_environment("over-tls")
        assert refused.value.code.name == "UNAVAILABLE"
    finally:
        server.stop()


def test_mutual_tls_refuses_a_certificate_from_another_ca(tmp_path: Path, pki: dict) -> None:
    server = ServerThread(
        tmp_path / "data",
        tls_cert=str(pki["server"].cert),
        tls_key=str(pki["server"].key),
        tls_client_ca=str(pki["ca"].cert),
    )
    try:
        ca = pki["ca"].cert
        good, stranger = pki["client"], pki["stranger"]
        with Client(server.address, tls_ca=ca, tls_cert=good.cert, tls_key=good.key) as c:
            c.provision("mutual", "basic")
            assert c.get_environment("mutual").name == "environments/mutual"
        for kwargs in (
            {"tls_cert": stranger.cert, "tls_key": stranger.key},
            {},  # no client certificate at all
        ):
            with (
                Client(server.address, tls_ca=ca, timeout=5, **kwargs) as c,
                pytest.raises(errors.StowageError) as refused,
            ):
                c.get_environment("mutual")
            assert refused.value.code.name == "UNAVAILABLE"
        # The CLI takes the same settings as flags.
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "stowage.cli.main",
                "--server",
                server.address,
                "--tls-ca",
                str(ca),
                "--tls-cert",
                str(good.cert),
                "--tls-key",
                str(good.key),
                "env",
                "list",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert "mutual" in out.stdout
    finally:
        server.stop()


@pytest.mark.parametrize(
    "extra",
    [{}, {"tokens_file": "TOKENS"}, {"tls_cert": "CERT", "tls_key": "KEY"}],
    ids=["bare", "tokens-only", "tls-only"],
)
async def test_refuses_to_listen_beyond_loopback_unprotected(
    tmp_path: Path, pki: dict, role_tokens: Tokens, extra: dict[str, str]
) -> None:
    files = {
        "TOKENS": str(role_tokens.path),
        "CERT": str(pki["server"].cert),
        "KEY": str(pki["server"].key),
    }
    flags = server_flags(tmp_path / "data", listen="0.0.0.0:0")
    flags.update({k: files[v] for k, v in extra.items()})
    server = StowageServer(load(flags, environ={}))
    with pytest.raises(StartupError) as refused:
        await server.start()
    assert "refusing to listen on 0.0.0.0:0" in str(refused.value)
    assert "--insecure" in str(refused.value)
    assert not (tmp_path / "data").exists()  # refused before touching anything


async def test_the_storage_sidecar_keeps_to_loopback(tmp_path: Path) -> None:
    from stowage_storage.sidecar import Sidecar

    with pytest.raises(ValueError, match="no authentication"):
        await Sidecar(str(tmp_path / "repository"), "0.0.0.0:0").start()
    assert not (tmp_path / "repository").exists()
