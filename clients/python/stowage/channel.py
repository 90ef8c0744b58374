"""How every client channel is configured: message sizes, reconnection, and
which calls gRPC retries by itself.

Only calls that are safe to repeat are retried: reads (Get*, List*, Watch*,
Read*, Export*) and writes whose request carries a ``request_id`` (AIP-155: a
repeated request with the same id returns the first result). The list is derived
from the service descriptors, so a new RPC is classified by its name and request
shape rather than by someone remembering to add it here.

The client fills ``request_id`` on every such write it sends. A caller that uses
the raw stubs (``client.backups.CreateBackup``) on this channel must set it too:
the retry policy is per method, not per request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from stowage.v1 import backup_service_pb2, environments_pb2, operations_pb2

# Calls answered UNAVAILABLE (server restarting, connection refused, shutting
# down) are retried up to 5 attempts in all, waiting about 0.1, 0.2, 0.4, 0.8 s
# (gRPC randomises each wait between 0 and the value).
RETRY_POLICY = {
    "maxAttempts": 5,
    "initialBackoff": "0.1s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
READ_PREFIXES = ("Get", "List", "Watch", "Read", "Export")
MAX_MESSAGE = 8 * 1024 * 1024
# gRPC's default reconnect backoff grows to 120 s; a client waiting for a
# restarted server should notice it within seconds.
MAX_RECONNECT_BACKOFF_MS = 5_000

SERVICES: tuple[ServiceDescriptor, ...] = (
    environments_pb2.DESCRIPTOR.services_by_name["EnvironmentService"],
    backup_service_pb2.DESCRIPTOR.services_by_name["BackupService"],
    operations_pb2.DESCRIPTOR.services_by_name["OperationService"],
)


def is_idempotent(method: MethodDescriptor) -> bool:
    """True when repeating the call cannot do the work twice."""
    if method.name.startswith(READ_PREFIXES):
        return True
    return not method.client_streaming and "request_id" in method.input_type.fields_by_name


def idempotent_methods(services: Iterable[ServiceDescriptor] = SERVICES) -> list[str]:
    """Full method names (``stowage.v1.BackupService/GetBackup``) that are retried."""
    return [
        f"{service.full_name}/{method.name}"
        for service in services
        for method in service.methods
        if is_idempotent(method)
    ]


def service_config(services: Iterable[ServiceDescriptor] = SERVICES) -> str:
    """The gRPC service config (JSON) naming the retried methods and their policy."""
    names = []
    for full in idempotent_methods(services):
        service, method = full.split("/")
        names.append({"service": service, "method": method})
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": RETRY_POLICY}]})


def options() -> list[tuple[str, Any]]:
    """Channel options for grpc.insecure_channel and grpc.aio.insecure_channel."""
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", service_config()),
        # The policy above is the client's own; a resolver must not replace it.
        ("grpc.service_config_disable_resolution", 1),
        ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
    ]
