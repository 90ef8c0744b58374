import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from stowage.v1 import backup_policy_pb2 as _backup_policy_pb2
from stowage.v1 import common_pb2 as _common_pb2
from stowage.v1 import environments_pb2 as _environments_pb2
from stowage.v1 import error_reason_pb2 as _error_reason_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Backup(_message.Message):
    __slots__ = ("name", "environment_uid", "edition", "region", "product_version", "create_time", "complete_time", "trigger", "artifact_count", "size_bytes", "added_bytes", "manifest_sha256", "excluded", "warnings", "operation", "scheduled_time")
    class Trigger(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TRIGGER_UNSPECIFIED: _ClassVar[Backup.Trigger]
        TRIGGER_MANUAL: _ClassVar[Backup.Trigger]
        TRIGGER_SCHEDULED: _ClassVar[Backup.Trigger]
    TRIGGER_UNSPECIFIED: Backup.Trigger
    TRIGGER_MANUAL: Backup.Trigger
    TRIGGER_SCHEDULED: Backup.Trigger
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_UID_FIELD_NUMBER: _ClassVar[int]
    EDITION_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ADDED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_SHA256_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    environment_uid: str
    edition: _common_pb2.Edition
    region: str
    product_version: str
    create_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    trigger: Backup.Trigger
    artifact_count: int
    size_bytes: int
    added_bytes: int
    manifest_sha256: str
    excluded: _containers.RepeatedCompositeFieldContainer[ExcludedItem]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    operation: str
    scheduled_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., environment_uid: _Optional[str] = ..., edition: _Optional[_Union[_common_pb2.Edition, str]] = ..., region: _Optional[str] = ..., product_version: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trigger: _Optional[_Union[Backup.Trigger, str]] = ..., artifact_count: _Optional[int] = ..., size_bytes: _Optional[int] = ..., added_bytes: _Optional[int] = ..., manifest_sha256: _Optional[str] = ..., excluded: _Optional[_Iterable[_Union[ExcludedItem, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., operation: _Optional[str] = ..., scheduled_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExcludedItem(_message.Message):
    __slots__ = ("kind", "name", "message_count", "reason")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ExcludedItem.Kind]
        KIND_HYBRID_CONNECTION: _ClassVar[ExcludedItem.Kind]
        KIND_BATCH_MESSAGES: _ClassVar[ExcludedItem.Kind]
        KIND_TRACKING_DATA: _ClassVar[ExcludedItem.Kind]
    KIND_UNSPECIFIED: ExcludedItem.Kind
    KIND_HYBRID_CONNECTION: ExcludedItem.Kind
    KIND_BATCH_MESSAGES: ExcludedItem.Kind
    KIND_TRACKING_DATA: ExcludedItem.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    kind: ExcludedItem.Kind
    name: str
    message_count: int
    reason: str
    def __init__(self, kind: _Optional[_Union[ExcludedItem.Kind, str]] = ..., name: _Optional[str] = ..., message_count: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class CreateBackupRequest(_message.Message):
    __slots__ = ("parent", "allow_batch_loss", "quiesce", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ALLOW_BATCH_LOSS_FIELD_NUMBER: _ClassVar[int]
    QUIESCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    allow_batch_loss: bool
    quiesce: bool
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., allow_batch_loss: _Optional[bool] = ..., quiesce: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetBackupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListBackupsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBackupsResponse(_message.Message):
    __slots__ = ("backups", "next_page_token")
    BACKUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    backups: _containers.RepeatedCompositeFieldContainer[Backup]
    next_page_token: str
    def __init__(self, backups: _Optional[_Iterable[_Union[Backup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteBackupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RestoreBackupRequest(_message.Message):
    __slots__ = ("backup", "environment_id", "edition", "settings", "source_ftp_folders", "region", "validate_only", "request_id", "copy_backup_policy")
    class SourceFtpFoldersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EDITION_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FTP_FOLDERS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    COPY_BACKUP_POLICY_FIELD_NUMBER: _ClassVar[int]
    backup: str
    environment_id: str
    edition: _common_pb2.Edition
    settings: _environments_pb2.EnvironmentSettings
    source_ftp_folders: _containers.ScalarMap[str, str]
    region: str
    validate_only: bool
    request_id: str
    copy_backup_policy: bool
    def __init__(self, backup: _Optional[str] = ..., environment_id: _Optional[str] = ..., edition: _Optional[_Union[_common_pb2.Edition, str]] = ..., settings: _Optional[_Union[_environments_pb2.EnvironmentSettings, _Mapping]] = ..., source_ftp_folders: _Optional[_Mapping[str, str]] = ..., region: _Optional[str] = ..., validate_only: _Optional[bool] = ..., request_id: _Optional[str] = ..., copy_backup_policy: _Optional[bool] = ...) -> None: ...

class RestoreCheck(_message.Message):
    __slots__ = ("check", "rule", "passed", "detail", "reason")
    CHECK_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    check: str
    rule: str
    passed: bool
    detail: str
    reason: _error_reason_pb2.ErrorReason
    def __init__(self, check: _Optional[str] = ..., rule: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ..., reason: _Optional[_Union[_error_reason_pb2.ErrorReason, str]] = ...) -> None: ...

class RestoreWarning(_message.Message):
    __slots__ = ("kind", "subject", "message")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[RestoreWarning.Kind]
        KIND_HYBRID_CONNECTION: _ClassVar[RestoreWarning.Kind]
        KIND_TRACKING_DATA: _ClassVar[RestoreWarning.Kind]
        KIND_CONTROL_NUMBERS: _ClassVar[RestoreWarning.Kind]
        KIND_BATCH_MESSAGES: _ClassVar[RestoreWarning.Kind]
        KIND_NO_BACKUP_POLICY: _ClassVar[RestoreWarning.Kind]
        KIND_FTP_FOLDER_CONFLICT: _ClassVar[RestoreWarning.Kind]
    KIND_UNSPECIFIED: RestoreWarning.Kind
    KIND_HYBRID_CONNECTION: RestoreWarning.Kind
    KIND_TRACKING_DATA: RestoreWarning.Kind
    KIND_CONTROL_NUMBERS: RestoreWarning.Kind
    KIND_BATCH_MESSAGES: RestoreWarning.Kind
    KIND_NO_BACKUP_POLICY: RestoreWarning.Kind
    KIND_FTP_FOLDER_CONFLICT: RestoreWarning.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: RestoreWarning.Kind
    subject: str
    message: str
    def __init__(self, kind: _Optional[_Union[RestoreWarning.Kind, str]] = ..., subject: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RestoreResult(_message.Message):
    __slots__ = ("environment", "backup", "validate_only", "checks", "warnings", "edition", "artifact_count", "size_bytes", "backup_policy")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    EDITION_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    BACKUP_POLICY_FIELD_NUMBER: _ClassVar[int]
    environment: str
    backup: str
    validate_only: bool
    checks: _containers.RepeatedCompositeFieldContainer[RestoreCheck]
    warnings: _containers.RepeatedCompositeFieldContainer[RestoreWarning]
    edition: _common_pb2.Edition
    artifact_count: int
    size_bytes: int
    backup_policy: _backup_policy_pb2.BackupPolicy
    def __init__(self, environment: _Optional[str] = ..., backup: _Optional[str] = ..., validate_only: _Optional[bool] = ..., checks: _Optional[_Iterable[_Union[RestoreCheck, _Mapping]]] = ..., warnings: _Optional[_Iterable[_Union[RestoreWarning, _Mapping]]] = ..., edition: _Optional[_Union[_common_pb2.Edition, str]] = ..., artifact_count: _Optional[int] = ..., size_bytes: _Optional[int] = ..., backup_policy: _Optional[_Union[_backup_policy_pb2.BackupPolicy, _Mapping]] = ...) -> None: ...

class GetBackupStatusRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class BackupAttempt(_message.Message):
    __slots__ = ("operation", "state", "backup", "start_time", "end_time", "size_bytes", "error", "trigger", "scheduled_time")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_TIME_FIELD_NUMBER: _ClassVar[int]
    operation: str
    state: str
    backup: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    size_bytes: int
    error: _status_pb2.Status
    trigger: Backup.Trigger
    scheduled_time: _timestamp_pb2.Timestamp
    def __init__(self, operation: _Optional[str] = ..., state: _Optional[str] = ..., backup: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., size_bytes: _Optional[int] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., trigger: _Optional[_Union[Backup.Trigger, str]] = ..., scheduled_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BackupStatus(_message.Message):
    __slots__ = ("environment", "last_backup", "last_successful_backup", "last_scheduled_backup", "next_run_time", "backup_policy")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    LAST_BACKUP_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESSFUL_BACKUP_FIELD_NUMBER: _ClassVar[int]
    LAST_SCHEDULED_BACKUP_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_TIME_FIELD_NUMBER: _ClassVar[int]
    BACKUP_POLICY_FIELD_NUMBER: _ClassVar[int]
    environment: str
    last_backup: BackupAttempt
    last_successful_backup: BackupAttempt
    last_scheduled_backup: BackupAttempt
    next_run_time: _timestamp_pb2.Timestamp
    backup_policy: _backup_policy_pb2.BackupPolicy
    def __init__(self, environment: _Optional[str] = ..., last_backup: _Optional[_Union[BackupAttempt, _Mapping]] = ..., last_successful_backup: _Optional[_Union[BackupAttempt, _Mapping]] = ..., last_scheduled_backup: _Optional[_Union[BackupAttempt, _Mapping]] = ..., next_run_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., backup_policy: _Optional[_Union[_backup_policy_pb2.BackupPolicy, _Mapping]] = ...) -> None: ...

class GetBackupStatusResponse(_message.Message):
    __slots__ = ("statuses",)
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedCompositeFieldContainer[BackupStatus]
    def __init__(self, statuses: _Optional[_Iterable[_Union[BackupStatus, _Mapping]]] = ...) -> None: ...
