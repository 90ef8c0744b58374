"""Typed exceptions built from a gRPC status and its google.rpc details.

Every error Stowage returns carries a google.rpc.ErrorInfo whose ``reason`` is a
stowage.v1.ErrorReason name; ``from_rpc_error`` picks the matching class, so
callers can write ``except RestoreEditionTooLow as e: e.metadata[...]``.

There is one class per ErrorReason value, named after it in CamelCase
(``RESTORE_EDITION_TOO_LOW`` -> ``RestoreEditionTooLow``); a unit test holds the
two lists equal. A reason this client does not know yet (a newer server) raises
the base ``StowageError`` with ``reason`` set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo, PreconditionFailure
from google.rpc.status_pb2 import Status

from stowage.v1.error_reason_pb2 import ErrorReason

# The trailer in which a gRPC server sends the whole google.rpc.Status.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class Violation:
    """One entry of a PreconditionFailure or BadRequest detail."""

    subject: str
    description: str
    type: str = ""


class StowageError(Exception):
    """A failed Stowage call: its status code, ErrorInfo reason, message and details."""

    reason_name = ""

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        metadata: dict[str, str] | None = None,
        violations: list[Violation] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})
        self.violations: list[Violation] = list(violations or [])

    def __str__(self) -> str:
        reason = f" {self.reason}" if self.reason else ""
        return f"{self.code.name}{reason}: {self.message}"


class InvalidArgument(StowageError):
    reason_name = "INVALID_ARGUMENT"


class EnvironmentNotFound(StowageError):
    reason_name = "ENVIRONMENT_NOT_FOUND"


class ArtifactNotFound(StowageError):
    reason_name = "ARTIFACT_NOT_FOUND"


class BackupNotFound(StowageError):
    reason_name = "BACKUP_NOT_FOUND"


class OperationNotFound(StowageError):
    reason_name = "OPERATION_NOT_FOUND"


class EnvironmentExists(StowageError):
    reason_name = "ENVIRONMENT_EXISTS"


class NameNotAvailable(StowageError):
    reason_name = "NAME_NOT_AVAILABLE"


class EditionNotSupported(StowageError):
    reason_name = "EDITION_NOT_SUPPORTED"


class RestoreEditionTooLow(StowageError):
    reason_name = "RESTORE_EDITION_TOO_LOW"


class ActiveBatchMessages(StowageError):
    reason_name = "ACTIVE_BATCH_MESSAGES"


class BackupInProgress(StowageError):
    reason_name = "BACKUP_IN_PROGRESS"


class InvalidState(StowageError):
    reason_name = "INVALID_STATE"


class CorruptData(StowageError):
    reason_name = "CORRUPT_DATA"


class StorageUnavailable(StowageError):
    reason_name = "STORAGE_UNAVAILABLE"


class RequestIdReused(StowageError):
    reason_name = "REQUEST_ID_REUSED"


class OperationFinished(StowageError):
    reason_name = "OPERATION_FINISHED"


class EnvironmentQuiesced(StowageError):
    reason_name = "ENVIRONMENT_QUIESCED"


class LimitExceeded(StowageError):
    reason_name = "LIMIT_EXCEEDED"


class ResumeBlocked(StowageError):
    reason_name = "RESUME_BLOCKED"


class ConcurrentChange(StowageError):
    reason_name = "CONCURRENT_CHANGE"


class OperationCancelled(StowageError):
    reason_name = "OPERATION_CANCELLED"


class ShuttingDown(StowageError):
    reason_name = "SHUTTING_DOWN"


class WrongKey(StowageError):
    reason_name = "WRONG_KEY"


class ObjectNotFound(StowageError):
    reason_name = "OBJECT_NOT_FOUND"


class ObjectExists(StowageError):
    reason_name = "OBJECT_EXISTS"


class Interrupted(StowageError):
    reason_name = "INTERRUPTED"


class BackupPolicyNotFound(StowageError):
    reason_name = "BACKUP_POLICY_NOT_FOUND"


class Internal(StowageError):
    reason_name = "INTERNAL"


class StorageRejected(StowageError):
    reason_name = "STORAGE_REJECTED"


class RepositoryLocked(StowageError):
    reason_name = "REPOSITORY_LOCKED"


class Unauthenticated(StowageError):
    reason_name = "UNAUTHENTICATED"


class PermissionDenied(StowageError):
    reason_name = "PERMISSION_DENIED"


def _reason_classes() -> dict[str, type[StowageError]]:
    by_reason: dict[str, type[StowageError]] = {}
    for cls in StowageError.__subclasses__():
        # A typo in reason_name would silently make a class unreachable.
        ErrorReason.Value(cls.reason_name)
        by_reason[cls.reason_name] = cls
    return by_reason


BY_REASON: dict[str, type[StowageError]] = _reason_classes()


@dataclass
class _Details:
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)


def _details(status: Status) -> _Details:
    out = _Details()
    for detail in status.details:
        # Unpack returns False when the detail holds another type.
        info, pf, br = ErrorInfo(), PreconditionFailure(), BadRequest()
        if detail.Unpack(info):
            out.reason = info.reason
            out.metadata = dict(info.metadata)
        elif detail.Unpack(pf):
            out.violations += [Violation(v.subject, v.description, v.type) for v in pf.violations]
        elif detail.Unpack(br):
            out.violations += [Violation(v.field, v.description) for v in br.field_violations]
    return out


def status_code(number: int) -> grpc.StatusCode:
    """The grpc.StatusCode of a google.rpc.Code number (UNKNOWN when out of range)."""
    return next((c for c in grpc.StatusCode if c.value[0] == number), grpc.StatusCode.UNKNOWN)


def from_status(status: Status) -> StowageError:
    """The typed exception for a google.rpc.Status (for example an operation's error)."""
    d = _details(status)
    cls = BY_REASON.get(d.reason, StowageError)
    return cls(status_code(status.code), d.reason, status.message, d.metadata, d.violations)


def _status_from_trailers(
    code: grpc.StatusCode, trailers: Sequence[tuple[str, str | bytes]] | None
) -> Status | None:
    for key, value in trailers or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = Status.FromString(value)
            # A proxy may rewrite the status; trust details only when they agree.
            if status.code == code.value[0]:
                return status
    return None


def from_rpc_error(error: grpc.RpcError) -> StowageError:
    """The typed exception for a failed call, sync (grpc.Call) or asyncio (AioRpcError)."""
    if isinstance(error, grpc.aio.AioRpcError):
        code, details = error.code(), error.details()
        trailers: Sequence[tuple[str, str | bytes]] | None = tuple(error.trailing_metadata())
    elif isinstance(error, grpc.Call):
        code, details, trailers = error.code(), error.details(), error.trailing_metadata()
    else:
        return StowageError(grpc.StatusCode.UNKNOWN, "", str(error))
    status = _status_from_trailers(code, trailers)
    if status is None:
        return StowageError(code, "", details or code.name)
    return from_status(status)
