"""Servers with tokens: one token per role, created through the CLI's code."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stowage_server import tokens
from stowage_server.roles import Role

from ..conftest import ServerThread


@dataclass
class Tokens:
    path: Path
    admin: str
    operator: str
    viewer: str


@pytest.fixture
def role_tokens(tmp_path: Path) -> Tokens:
    path = tmp_path / "tokens.json"
    return Tokens(
        path,
        admin=tokens.create(str(path), "ada", Role.ADMIN),
        operator=tokens.create(str(path), "otto", Role.OPERATOR),
        viewer=tokens.create(str(path), "vera", Role.VIEWER),
    )


@pytest.fixture
def secured(tmp_path: Path, role_tokens: Tokens) -> Iterator[ServerThread]:
    s = ServerThread(tmp_path / "data", tokens_file=str(role_tokens.path))
    try:
        yield s
    finally:
        s.stop()
