"""The storage sidecar: `stowage storage-sidecar --repository URL --listen unix:PATH`.

A process of its own that holds the storage credentials and serves BlobService
over a Unix socket (or a loopback port): named objects for a Stowage server's
repository, and content-addressed blobs for any client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from stowage.v1 import blobs_pb2, blobs_pb2_grpc

from .blob_service import BlobServicer, StoreBlobs
from .open import open_store
from .store import ObjectStore

log = logging.getLogger("stowage.sidecar")
MAX_MESSAGE = 8 * 1024 * 1024
SERVICE = blobs_pb2.DESCRIPTOR.services_by_name["BlobService"].full_name


def _remove_stale_socket(path: str) -> None:
    """A socket left by an earlier run would stop the bind."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class Sidecar:
    def __init__(self, repository: str, listen: str) -> None:
        self.repository = repository
        self.listen = listen
        self.store: ObjectStore | None = None
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        if not _is_local(self.listen):
            # Whoever reaches the sidecar may read and delete every object.
            raise ValueError(
                f"the storage sidecar has no authentication: listen on unix:PATH or a "
                f"loopback address, not {self.listen}"
            )
        self.store = await open_store(self.repository)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
            ]
        )
        blobs_pb2_grpc.add_BlobServiceServicer_to_server(
            BlobServicer(StoreBlobs(self.store), self.store), server
        )
        checker = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(checker, server)
        if self.listen.startswith("unix:"):
            path = self.listen[len("unix:") :]
            _remove_stale_socket(path)
            self.port = server.add_insecure_port(self.listen)
            # Only this user may talk to the storage: the socket is the credential.
            os.chmod(path, 0o600)
        else:
            self.port = server.add_insecure_port(self.listen)
        await server.start()
        for name in ("", SERVICE):
            await checker.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        where = (
            self.listen
            if self.listen.startswith("unix:")
            else f"{self.listen.rsplit(':', 1)[0]}:{self.port}"
        )
        log.info("storage sidecar serving on %s (repository %s)", where, self.store.describe())

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(2)
            self._server = None
        if self.store is not None:
            await self.store.close()


def _is_local(listen: str) -> bool:
    if listen.startswith("unix:"):
        return True
    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(repository: str, listen: str) -> None:
    sidecar = Sidecar(repository, listen)
    await sidecar.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await sidecar.stop()


def main(repository: str, listen: str, log_level: str = "info") -> int:
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(repository, listen))
    except Exception as e:  # a bad URL or credentials: one clear line
        log.error("storage sidecar cannot start: %s", e)
        return 1
    return 0
