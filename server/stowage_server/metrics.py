"""Prometheus metrics, and the HTTP listener that serves them (``--metrics-listen``).

Metric names and label names are a promise to the operators' dashboards and
alerts: never rename one. Label values are environment names, operation kinds,
triggers, results, gRPC method names and status codes, never a setting, a
secret or artifact content.

Each server has its own registry, so several servers can run in one process.
Backups and restores are counted when their operation finishes, as an observer
of the OperationManager, so the engines hold no metrics code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from stowage.v1 import operations_pb2 as ops_pb
from stowage_storage.store import ObjectStore, StorageError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from .catalog import BackupCatalog

log = logging.getLogger("stowage.metrics")
Op = ops_pb.Operation

KINDS = {Op.KIND_BACKUP: "backup", Op.KIND_RESTORE: "restore"}
RESULTS = {
    Op.STATE_SUCCEEDED: "succeeded",
    Op.STATE_FAILED: "failed",
    Op.STATE_CANCELLED: "cancelled",
}
# Backups take seconds to hours; requests take milliseconds, watches minutes.
BACKUP_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)
RPC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    """Every metric of one server; also an observer of its operations."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.backups = Counter(
            "stowage_backups_total",
            "Backups finished, by environment, trigger and result (succeeded, failed, cancelled)",
            ["environment", "trigger", "result"],
            registry=r,
        )
        self.restores = Counter(
            "stowage_restores_total", "Restores finished, by result", ["result"], registry=r
        )
        self.backup_duration = Histogram(
            "stowage_backup_duration_seconds",
            "How long backups ran, from start to end, by result",
            ["result"],
            buckets=BACKUP_BUCKETS,
            registry=r,
        )
        self.backup_bytes_written = Counter(
            "stowage_backup_bytes_written_total",
            "Bytes that successful backups stored in the repository "
            "(new blobs only, after compression), by environment",
            ["environment"],
            registry=r,
        )
        self.repository_bytes = Gauge(
            "stowage_repository_bytes",
            "Bytes of every object in the backup repository, as of the last backup or prune",
            registry=r,
        )
        self.last_success = Gauge(
            "stowage_last_successful_backup_timestamp_seconds",
            "When the latest successful backup of each environment completed (Unix time)",
            ["environment"],
            registry=r,
        )
        self.running = Gauge(
            "stowage_operations_running",
            "Operations running now, by kind",
            ["kind"],
            registry=r,
        )
        self.rpcs = Counter(
            "stowage_grpc_requests_total",
            "gRPC requests handled, by method and status code",
            ["method", "code"],
            registry=r,
        )
        self.rpc_duration = Histogram(
            "stowage_grpc_request_duration_seconds",
            "gRPC request latency (whole stream for streaming calls), by method and status code",
            ["method", "code"],
            buckets=RPC_BUCKETS,
            registry=r,
        )
        for kind in KINDS.values():
            self.running.labels(kind=kind)
        self._store: ObjectStore | None = None
        self._sizing: asyncio.Task[None] | None = None
        self._resize = False

    # -- operations ------------------------------------------------------------

    def operation_started(self, op: Op, labels: Mapping[str, str]) -> None:
        if op.kind in KINDS:
            self.running.labels(kind=KINDS[op.kind]).inc()

    def operation_finished(self, op: Op, labels: Mapping[str, str]) -> None:
        if op.kind in KINDS:
            self.running.labels(kind=KINDS[op.kind]).dec()
        result = RESULTS.get(op.state, "unknown")
        if op.kind == Op.KIND_RESTORE:
            self.restores.labels(result=result).inc()
            return
        if op.kind != Op.KIND_BACKUP:
            # Other operations (prune, for one) may change the repository's size.
            self.refresh_repository_bytes()
            return
        environment = labels.get("environment") or op.target.removeprefix("environments/")
        trigger = labels.get("trigger", "unspecified")
        self.backups.labels(environment=environment, trigger=trigger, result=result).inc()
        if op.HasField("start_time") and op.HasField("end_time"):
            seconds = (op.end_time.ToNanoseconds() - op.start_time.ToNanoseconds()) / 1e9
            self.backup_duration.labels(result=result).observe(max(0.0, seconds))
        if op.state == Op.STATE_SUCCEEDED:
            self.backup_bytes_written.labels(environment=environment).inc(op.backup.added_bytes)
            self.last_success.labels(environment=environment).set(op.end_time.ToNanoseconds() / 1e9)
        self.refresh_repository_bytes()

    # -- requests --------------------------------------------------------------

    def rpc_finished(self, method: str, code: str, seconds: float) -> None:
        self.rpcs.labels(method=method, code=code).inc()
        self.rpc_duration.labels(method=method, code=code).observe(seconds)

    # -- state at start ----------------------------------------------------------

    async def start(self, store: ObjectStore, catalog: BackupCatalog) -> None:
        """Reads what a fresh process cannot have counted: the last successful
        backup of each live environment, so an alert on its age survives a
        restart, and the repository's size."""
        self._store = store
        for status in await catalog.status(None):
            good = status.last_successful_backup
            if good.HasField("end_time"):
                self.last_success.labels(
                    environment=status.environment.removeprefix("environments/")
                ).set(good.end_time.ToNanoseconds() / 1e9)
        self.refresh_repository_bytes()

    def refresh_repository_bytes(self) -> None:
        """Recomputes the repository's size in the background; calls that come
        while one runs are folded into one more run."""
        if self._store is None:
            return
        if self._sizing is not None and not self._sizing.done():
            self._resize = True
            return
        self._sizing = asyncio.ensure_future(self._size_repository(self._store))

    async def _size_repository(self, store: ObjectStore) -> None:
        while True:
            self._resize = False
            try:
                # One listing: object sizes come with it, and the store lists off the loop.
                self.repository_bytes.set(sum(o.size for o in await store.list("")))
            except StorageError as e:
                log.warning("cannot measure the repository: %s", e)
            if not self._resize:
                return

    async def close(self) -> None:
        if self._sizing is not None:
            self._sizing.cancel()
            await asyncio.gather(self._sizing, return_exceptions=True)


def parse_address(address: str) -> tuple[str, int]:
    """'127.0.0.1:9464', '[::1]:9464' or 'localhost:0' to (host, port)."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid address {address!r}: use host:port, as in 127.0.0.1:9464")
    return host, int(port)


class MetricsListener:
    """Serves /metrics over HTTP from its own thread, so a scrape needs nothing
    from the event loop and still answers while the loop is busy."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.port = 0
        self._httpd: WSGIServer | None = None

    def start(self, address: str) -> int:
        host, port = parse_address(address)
        self._httpd, _ = start_http_server(port, addr=host, registry=self.registry)
        self.port = self._httpd.server_port
        return self.port

    async def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            # shutdown() blocks until the serving thread notices, up to half a second.
            await asyncio.to_thread(httpd.shutdown)
            httpd.server_close()
