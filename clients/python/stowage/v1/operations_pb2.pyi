import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from stowage.v1 import backups_pb2 as _backups_pb2
from stowage.v1 import maintenance_pb2 as _maintenance_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Operation(_message.Message):
    __slots__ = ("name", "kind", "target", "state", "done", "progress", "create_time", "start_time", "end_time", "request_id", "error", "warnings", "last_sequence", "backup", "restore", "verify", "prune", "copy")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Operation.Kind]
        KIND_BACKUP: _ClassVar[Operation.Kind]
        KIND_RESTORE: _ClassVar[Operation.Kind]
        KIND_VERIFY: _ClassVar[Operation.Kind]
        KIND_PRUNE: _ClassVar[Operation.Kind]
        KIND_COPY: _ClassVar[Operation.Kind]
    KIND_UNSPECIFIED: Operation.Kind
    KIND_BACKUP: Operation.Kind
    KIND_RESTORE: Operation.Kind
    KIND_VERIFY: Operation.Kind
    KIND_PRUNE: Operation.Kind
    KIND_COPY: Operation.Kind
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Operation.State]
        STATE_PENDING: _ClassVar[Operation.State]
        STATE_RUNNING: _ClassVar[Operation.State]
        STATE_SUCCEEDED: _ClassVar[Operation.State]
        STATE_FAILED: _ClassVar[Operation.State]
        STATE_CANCELLED: _ClassVar[Operation.State]
    STATE_UNSPECIFIED: Operation.State
    STATE_PENDING: Operation.State
    STATE_RUNNING: Operation.State
    STATE_SUCCEEDED: Operation.State
    STATE_FAILED: Operation.State
    STATE_CANCELLED: Operation.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    PRUNE_FIELD_NUMBER: _ClassVar[int]
    COPY_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: Operation.Kind
    target: str
    state: Operation.State
    done: bool
    progress: Progress
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    request_id: str
    error: _status_pb2.Status
    warnings: _containers.RepeatedScalarFieldContainer[str]
    last_sequence: int
    backup: _backups_pb2.Backup
    restore: _backups_pb2.RestoreResult
    verify: _maintenance_pb2.VerifyResult
    prune: _maintenance_pb2.PruneResult
    copy: _maintenance_pb2.CopyResult
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[Operation.Kind, str]] = ..., target: _Optional[str] = ..., state: _Optional[_Union[Operation.State, str]] = ..., done: _Optional[bool] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ..., last_sequence: _Optional[int] = ..., backup: _Optional[_Union[_backups_pb2.Backup, _Mapping]] = ..., restore: _Optional[_Union[_backups_pb2.RestoreResult, _Mapping]] = ..., verify: _Optional[_Union[_maintenance_pb2.VerifyResult, _Mapping]] = ..., prune: _Optional[_Union[_maintenance_pb2.PruneResult, _Mapping]] = ..., copy: _Optional[_Union[_maintenance_pb2.CopyResult, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("phase", "items_done", "items_total", "bytes_done", "bytes_total", "current_item")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_DONE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CURRENT_ITEM_FIELD_NUMBER: _ClassVar[int]
    phase: str
    items_done: int
    items_total: int
    bytes_done: int
    bytes_total: int
    current_item: str
    def __init__(self, phase: _Optional[str] = ..., items_done: _Optional[int] = ..., items_total: _Optional[int] = ..., bytes_done: _Optional[int] = ..., bytes_total: _Optional[int] = ..., current_item: _Optional[str] = ...) -> None: ...

class OperationEvent(_message.Message):
    __slots__ = ("sequence", "time", "state", "progress", "warning", "operation")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    time: _timestamp_pb2.Timestamp
    state: Operation.State
    progress: Progress
    warning: str
    operation: Operation
    def __init__(self, sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[Operation.State, str]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., warning: _Optional[str] = ..., operation: _Optional[_Union[Operation, _Mapping]] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListOperationsRequest(_message.Message):
    __slots__ = ("target", "kind", "page_size", "page_token")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    target: str
    kind: Operation.Kind
    page_size: int
    page_token: str
    def __init__(self, target: _Optional[str] = ..., kind: _Optional[_Union[Operation.Kind, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOperationsResponse(_message.Message):
    __slots__ = ("operations", "next_page_token")
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[Operation]
    next_page_token: str
    def __init__(self, operations: _Optional[_Iterable[_Union[Operation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchOperationRequest(_message.Message):
    __slots__ = ("name", "after_sequence")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    after_sequence: int
    def __init__(self, name: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class CancelOperationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...
