"""Shared fixtures: real servers on 127.0.0.1 (port 0), in a thread or a process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stowage.client import Client
from stowage_server.app import StowageServer
from stowage_server.clock import Clock
from stowage_server.config import load
from stowage_storage.store import ObjectStore

from .azurite import Azurite, set_credentials


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run the long soak tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long run: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def server_flags(data_dir: Path, **extra: str) -> dict[str, str]:
    flags = {
        "listen": "127.0.0.1:0",
        "data_dir": str(data_dir),
        "name_release_period": "0",
        "sweep_interval": "1h",
        "key": "",
    }
    flags.update(extra)
    return flags


class ServerThread:
    """A StowageServer on its own event loop in a background thread.
    ``wrap_store`` puts a layer around its object store (see app.assemble)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Clock | None = None,
        wrap_store: Callable[[ObjectStore], ObjectStore] | None = None,
        **options: str,
    ) -> None:
        self.data_dir = data_dir
        self.config = load(server_flags(data_dir, **options), environ={})
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.server = StowageServer(self.config, clock, wrap_store=wrap_store)
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(60)
        self.address = f"127.0.0.1:{self.port}"

    def call(self, coro, timeout: float = 60):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(grace=2), self._loop).result(60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


class ServerProcess:
    """`stowage serve` as a child process, for tests that kill or signal it."""

    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        args = [
            sys.executable,
            "-m",
            "stowage.cli.main",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data_dir),
            "--name-release-period",
            "0",
            *extra,
        ]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("STOWAGE_")}
        environ.update(env or {})
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environ
        )
        self.log: list[str] = []
        self._ready = threading.Event()
        self.port = 0
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(60) or not self.port:
            self.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        self.address = f"127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"serving on [^ ]+:(\d+)", line)
            if m and not self.port:
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


class SidecarProcess:
    """`stowage storage-sidecar` as a child process on a Unix socket."""

    def __init__(self, repository: str, socket_path: Path) -> None:
        self.address = f"grpc+unix:{socket_path}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stowage.cli.main",
                "storage-sidecar",
                "--repository",
                repository,
                "--listen",
                f"unix:{socket_path}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line)
                if "storage sidecar serving on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("sidecar did not start:\n" + "".join(self.log))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    emulator = Azurite(tmp_path_factory.mktemp("azurite"))
    saved = {k: v for k, v in os.environ.items() if k.startswith("AZURE_STORAGE_")}
    set_credentials(emulator)
    try:
        yield emulator
    finally:
        emulator.stop()
        for k in [k for k in os.environ if k.startswith("AZURE_STORAGE_")]:
            del os.environ[k]
        os.environ.update(saved)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    s = ServerThread(tmp_path / "data")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def client(server: ServerThread) -> Iterator[Client]:
    with Client(server.address, timeout=60) as c:
        yield c


def wait_for(predicate, timeout: float = 30, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
