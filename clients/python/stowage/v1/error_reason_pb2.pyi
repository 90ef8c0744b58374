from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    INVALID_ARGUMENT: _ClassVar[ErrorReason]
    ENVIRONMENT_NOT_FOUND: _ClassVar[ErrorReason]
    ARTIFACT_NOT_FOUND: _ClassVar[ErrorReason]
    BACKUP_NOT_FOUND: _ClassVar[ErrorReason]
    OPERATION_NOT_FOUND: _ClassVar[ErrorReason]
    ENVIRONMENT_EXISTS: _ClassVar[ErrorReason]
    NAME_NOT_AVAILABLE: _ClassVar[ErrorReason]
    EDITION_NOT_SUPPORTED: _ClassVar[ErrorReason]
    RESTORE_EDITION_TOO_LOW: _ClassVar[ErrorReason]
    ACTIVE_BATCH_MESSAGES: _ClassVar[ErrorReason]
    BACKUP_IN_PROGRESS: _ClassVar[ErrorReason]
    INVALID_STATE: _ClassVar[ErrorReason]
    CORRUPT_DATA: _ClassVar[ErrorReason]
    STORAGE_UNAVAILABLE: _ClassVar[ErrorReason]
    REQUEST_ID_REUSED: _ClassVar[ErrorReason]
    OPERATION_FINISHED: _ClassVar[ErrorReason]
    ENVIRONMENT_QUIESCED: _ClassVar[ErrorReason]
    LIMIT_EXCEEDED: _ClassVar[ErrorReason]
    RESUME_BLOCKED: _ClassVar[ErrorReason]
    CONCURRENT_CHANGE: _ClassVar[ErrorReason]
    OPERATION_CANCELLED: _ClassVar[ErrorReason]
    SHUTTING_DOWN: _ClassVar[ErrorReason]
    WRONG_KEY: _ClassVar[ErrorReason]
    OBJECT_NOT_FOUND: _ClassVar[ErrorReason]
    OBJECT_EXISTS: _ClassVar[ErrorReason]
    INTERRUPTED: _ClassVar[ErrorReason]
    INTERNAL: _ClassVar[ErrorReason]
    STORAGE_REJECTED: _ClassVar[ErrorReason]
    REPOSITORY_LOCKED: _ClassVar[ErrorReason]
    BACKUP_POLICY_NOT_FOUND: _ClassVar[ErrorReason]
ERROR_REASON_UNSPECIFIED: ErrorReason
INVALID_ARGUMENT: ErrorReason
ENVIRONMENT_NOT_FOUND: ErrorReason
ARTIFACT_NOT_FOUND: ErrorReason
BACKUP_NOT_FOUND: ErrorReason
OPERATION_NOT_FOUND: ErrorReason
ENVIRONMENT_EXISTS: ErrorReason
NAME_NOT_AVAILABLE: ErrorReason
EDITION_NOT_SUPPORTED: ErrorReason
RESTORE_EDITION_TOO_LOW: ErrorReason
ACTIVE_BATCH_MESSAGES: ErrorReason
BACKUP_IN_PROGRESS: ErrorReason
INVALID_STATE: ErrorReason
CORRUPT_DATA: ErrorReason
STORAGE_UNAVAILABLE: ErrorReason
REQUEST_ID_REUSED: ErrorReason
OPERATION_FINISHED: ErrorReason
ENVIRONMENT_QUIESCED: ErrorReason
LIMIT_EXCEEDED: ErrorReason
RESUME_BLOCKED: ErrorReason
CONCURRENT_CHANGE: ErrorReason
OPERATION_CANCELLED: ErrorReason
SHUTTING_DOWN: ErrorReason
WRONG_KEY: ErrorReason
OBJECT_NOT_FOUND: ErrorReason
OBJECT_EXISTS: ErrorReason
INTERRUPTED: ErrorReason
INTERNAL: ErrorReason
STORAGE_REJECTED: ErrorReason
REPOSITORY_LOCKED: ErrorReason
BACKUP_POLICY_NOT_FOUND: ErrorReason
