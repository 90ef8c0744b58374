"""How every client channel is configured: message sizes, reconnection, and
which calls gRPC retries by itself.

Only calls that are safe to repeat are retried: reads (Get*, List*, Watch*,
Read*, Export*, Find*) and writes whose request carries a ``request_id``
(AIP-155: a repeated request with the same id returns the first result). The
list is derived from the descriptors of every service in stowage.v1, so a new
RPC or service is classified by its name and request shape rather than by
someone remembering to add it here.

The client fills ``request_id`` on every such write it sends. A caller that uses
the raw stubs (``client.backups.CreateBackup``) on this channel must set it too:
the retry policy is per method, not per request.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

import stowage.v1

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
READ_PREFIXES = ("Get", "List", "Watch", "Read", "Export", "Find")
MAX_MESSAGE = 8 * 1024 * 1024
# gRPC's default reconnect backoff grows to 120 s; a client waiting for a
# restarted server should notice it within seconds.
MAX_RECONNECT_BACKOFF_MS = 5_000


def contract_services() -> tuple[ServiceDescriptor, ...]:
    """Every service declared in the generated stowage.v1 modules."""
    services = []
    for module in sorted(m.name for m in pkgutil.iter_modules(stowage.v1.__path__)):
        if module.endswith("_pb2"):
            descriptor = importlib.import_module(f"stowage.v1.{module}").DESCRIPTOR
            services += descriptor.services_by_name.values()
    return tuple(services)


SERVICES = contract_services()


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
