"""Domain errors. Each maps to exactly one gRPC status code and one ErrorInfo
reason (stowage.v1.ErrorReason); servicers translate them, engines raise them."""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass, field

import grpc


@dataclass(frozen=True)
class Violation:
    """One failed precondition or bad field: subject and description."""

    subject: str
    description: str
    type: str = ""


class StowageError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION
    reason: str = "INVALID_STATE"

    def __init__(
        self,
        message: str,
        *,
        metadata: dict[str, str] | None = None,
        violations: list[Violation] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = dict(metadata or {})
        self.violations = list(violations or [])


class InvalidArgument(StowageError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(
            f"{field_name}: {message}",
            metadata={"field": field_name},
            violations=[Violation(field_name, message)],
        )
        self.field = field_name


class NotFound(StowageError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, reason: str, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name} not found", metadata={kind: name})
        self.reason = reason


def environment_not_found(name: str) -> NotFound:
    return NotFound("ENVIRONMENT_NOT_FOUND", "environment", name)


def artifact_not_found(name: str) -> NotFound:
    return NotFound("ARTIFACT_NOT_FOUND", "artifact", name)


def backup_not_found(name: str) -> NotFound:
    return NotFound("BACKUP_NOT_FOUND", "backup", name)


def operation_not_found(name: str) -> NotFound:
    return NotFound("OPERATION_NOT_FOUND", "operation", name)


def object_not_found(name: str) -> NotFound:
    return NotFound("OBJECT_NOT_FOUND", "object", name)


class AlreadyExists(StowageError):
    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, reason: str, message: str, metadata: dict[str, str]) -> None:
        super().__init__(message, metadata=metadata)
        self.reason = reason


class FailedPrecondition(StowageError):
    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        metadata: dict[str, str] | None = None,
        violations: list[Violation] | None = None,
    ) -> None:
        super().__init__(message, metadata=metadata, violations=violations)
        self.reason = reason


class DataLoss(StowageError):
    code = grpc.StatusCode.DATA_LOSS
    reason = "CORRUPT_DATA"


class Unavailable(StowageError):
    code = grpc.StatusCode.UNAVAILABLE

    def __init__(self, reason: str, message: str, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message, metadata=metadata)
        self.reason = reason


class LimitExceeded(StowageError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "LIMIT_EXCEEDED"


class ConcurrentChange(StowageError):
    code = grpc.StatusCode.ABORTED
    reason = "CONCURRENT_CHANGE"


class Cancelled(StowageError):
    code = grpc.StatusCode.CANCELLED
    reason = "OPERATION_CANCELLED"


@dataclass
class Collected:
    """Collects field violations so one INVALID_ARGUMENT names them all."""

    violations: list[Violation] = field(default_factory=list)

    def add(self, field_name: str, message: str) -> None:
        self.violations.append(Violation(field_name, message))

    def raise_if_any(self) -> None:
        if self.violations:
            first = self.violations[0]
            err = InvalidArgument(first.subject, first.description)
            err.violations = list(self.violations)
            if len(self.violations) > 1:
                err.message = "; ".join(f"{v.subject}: {v.description}" for v in self.violations)
                err.args = (err.message,)
            raise err


class RequestIdReused(InvalidArgument):
    reason = "REQUEST_ID_REUSED"

    def __init__(self, request_id: str) -> None:
        super().__init__("request_id", f"{request_id} was already used with a different request")


def from_storage(e: Exception) -> StowageError:
    """The domain error for a storage or repository failure."""
    from stowage_storage.locks import LockConflict, LockLost
    from stowage_storage.repository import CorruptObject, SourceChanged, WrongKey
    from stowage_storage.store import StorageRejected, StorageUnavailable

    if isinstance(e, CorruptObject):
        meta = {"object": e.key} if e.key else {}
        if e.sha256:
            meta["blob"] = e.sha256.hex()
        return DataLoss(str(e), metadata=meta)
    if isinstance(e, SourceChanged):
        return DataLoss(str(e))
    if isinstance(e, LockConflict):
        return FailedPrecondition(
            "REPOSITORY_LOCKED", str(e), metadata={"holders": "; ".join(e.holders)}
        )
    if isinstance(e, LockLost):
        return Unavailable("STORAGE_UNAVAILABLE", f"{e}; nothing was made visible")
    if isinstance(e, StorageUnavailable):
        return Unavailable("STORAGE_UNAVAILABLE", f"the repository is unavailable: {e}")
    if isinstance(e, WrongKey):
        return FailedPrecondition("WRONG_KEY", str(e))
    if isinstance(e, StorageRejected):
        return FailedPrecondition("STORAGE_REJECTED", f"the repository refused the request: {e}")
    return Unavailable("STORAGE_UNAVAILABLE", f"repository error: {e}")


def _disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(e, sqlite3.OperationalError) and "full" in str(e)


def known_failure(e: BaseException) -> StowageError | None:
    """The domain error for a failure of the server's surroundings that an engine
    let through: a storage or repository failure, or a full data directory (the
    registry or artifact content). None for anything else, which is a bug."""
    from stowage_storage.locks import LockConflict, LockLost
    from stowage_storage.repository import RepositoryError
    from stowage_storage.store import StorageError

    if isinstance(e, StorageError | RepositoryError | LockConflict | LockLost):
        return from_storage(e)
    if _disk_full(e):
        return LimitExceeded(
            "the server's data directory is full; free space there and retry",
            metadata={"limit": "free space in the data directory"},
        )
    return None
