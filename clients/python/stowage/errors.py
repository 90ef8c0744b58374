"""Typed exceptions built from a gRPC status and its google.rpc details.

Every error Stowage returns carries a google.rpc.ErrorInfo whose ``reason`` is a
stowage.v1.ErrorReason name; ``from_rpc_error`` picks the matching class, so
callers can write ``except RestoreEditionTooLow as e: e.metadata[...]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class Violation:
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


class OperationCancelled(StowageError):
    reason_name = "OPERATION_CANCELLED"


class Interrupted(StowageError):
    reason_name = "INTERRUPTED"


class BackupPolicyNotFound(StowageError):
    reason_name = "BACKUP_POLICY_NOT_FOUND"


_BY_REASON: dict[str, type[StowageError]] = {
    cls.reason_name: cls
    for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, StowageError) and cls.reason_name
}


@dataclass
class _Details:
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)


def _details(status: status_pb2.Status) -> _Details:
    out = _Details()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            out.reason = info.reason
            out.metadata = dict(info.metadata)
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            pf = error_details_pb2.PreconditionFailure()
            detail.Unpack(pf)
            out.violations += [Violation(v.subject, v.description, v.type) for v in pf.violations]
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            out.violations += [Violation(v.field, v.description) for v in br.field_violations]
    return out


def from_status(status: status_pb2.Status) -> StowageError:
    """The typed exception for a google.rpc.Status (for example an operation's error)."""
    code = next((c for c in grpc.StatusCode if c.value[0] == status.code), grpc.StatusCode.UNKNOWN)
    d = _details(status)
    cls = _BY_REASON.get(d.reason, StowageError)
    return cls(code, d.reason, status.message, d.metadata, d.violations)


def from_rpc_error(error: grpc.RpcError) -> StowageError:
    """The typed exception for a failed call."""
    status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None
    if status is None:
        code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = error.details() if isinstance(error, grpc.Call) else str(error)
        return StowageError(code, "", details or code.name)
    return from_status(status)
