"""Hostile input: random requests to every RPC, and forged objects in the
repository. Never UNKNOWN or INTERNAL, the server keeps serving, and nothing is
written outside its data directory."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from stowage.client import Client
from stowage.errors import InvalidArgument

from ..conftest import ServerThread
from .figures import Figures
from .hostile_repository import run_hostile_repository
from .hostile_requests import SERVICES, run_hostile_requests
from .scale import SHORT, SOAK, with_seed


def test_random_requests_to_every_rpc(tmp_path: Path) -> None:
    figures = Figures()
    run_hostile_requests(tmp_path, with_seed(SHORT), figures)
    rpcs = sum(len(s.methods) for s in SERVICES)
    assert sum(figures.fuzz_cases.values()) >= rpcs * SHORT.requests_per_rpc // 2
    figures.assert_nothing_lost()


def test_forged_repository_objects(tmp_path: Path) -> None:
    figures = Figures()
    run_hostile_repository(tmp_path, with_seed(SHORT), figures)
    assert sum(figures.fuzz_cases.values()) == SHORT.forged_objects
    figures.assert_nothing_lost()


def test_a_copy_destination_with_a_nul_is_invalid(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data")
    try:
        with Client(server.address) as client:
            client.provision("nul", "basic")
            backup = client.create_backup("nul").result().backup.name
            with pytest.raises(InvalidArgument):
                client.copy_backup(backup, "\x00")
    finally:
        server.stop()


def test_a_request_that_does_not_parse_is_invalid_argument(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data")
    try:
        with grpc.insecure_channel(server.address) as channel:
            for path, garbage in (
                ("/stowage.v1.EnvironmentService/GetEnvironment", b"\xff\xff\xff"),
                ("/stowage.v1.BlobService/WriteBlob", b"\x0a\x05ab"),
            ):
                if path.endswith("WriteBlob"):
                    send = channel.stream_unary(path, lambda b: b, lambda b: b)
                    request = iter([garbage])
                else:
                    send = channel.unary_unary(path, lambda b: b, lambda b: b)
                    request = garbage
                with pytest.raises(grpc.RpcError) as err:
                    send(request, timeout=10)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_hostile_input_soak(tmp_path: Path) -> None:
    figures = Figures()
    run_hostile_requests(tmp_path / "requests", with_seed(SOAK), figures)
    run_hostile_repository(tmp_path / "repository", with_seed(SOAK), figures)
    print(figures.table())
    figures.assert_nothing_lost()
