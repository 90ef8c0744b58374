from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerifyRepositoryRequest(_message.Message):
    __slots__ = ("read_data", "request_id")
    READ_DATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    read_data: bool
    request_id: str
    def __init__(self, read_data: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class VerifyProblem(_message.Message):
    __slots__ = ("backup", "item", "object", "blob", "description")
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    backup: str
    item: str
    object: str
    blob: str
    description: str
    def __init__(self, backup: _Optional[str] = ..., item: _Optional[str] = ..., object: _Optional[str] = ..., blob: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class VerifyResult(_message.Message):
    __slots__ = ("ok", "backups_checked", "packs_checked", "blobs_checked", "bytes_read", "problems")
    OK_FIELD_NUMBER: _ClassVar[int]
    BACKUPS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    PACKS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    BLOBS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    BYTES_READ_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    backups_checked: int
    packs_checked: int
    blobs_checked: int
    bytes_read: int
    problems: _containers.RepeatedCompositeFieldContainer[VerifyProblem]
    def __init__(self, ok: _Optional[bool] = ..., backups_checked: _Optional[int] = ..., packs_checked: _Optional[int] = ..., blobs_checked: _Optional[int] = ..., bytes_read: _Optional[int] = ..., problems: _Optional[_Iterable[_Union[VerifyProblem, _Mapping]]] = ...) -> None: ...

class PruneRepositoryRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class PruneResult(_message.Message):
    __slots__ = ("packs_deleted", "packs_repacked", "blobs_removed", "bytes_freed", "manifests_deleted", "index_objects_replaced", "locks_removed")
    PACKS_DELETED_FIELD_NUMBER: _ClassVar[int]
    PACKS_REPACKED_FIELD_NUMBER: _ClassVar[int]
    BLOBS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    BYTES_FREED_FIELD_NUMBER: _ClassVar[int]
    MANIFESTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    INDEX_OBJECTS_REPLACED_FIELD_NUMBER: _ClassVar[int]
    LOCKS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    packs_deleted: int
    packs_repacked: int
    blobs_removed: int
    bytes_freed: int
    manifests_deleted: int
    index_objects_replaced: int
    locks_removed: int
    def __init__(self, packs_deleted: _Optional[int] = ..., packs_repacked: _Optional[int] = ..., blobs_removed: _Optional[int] = ..., bytes_freed: _Optional[int] = ..., manifests_deleted: _Optional[int] = ..., index_objects_replaced: _Optional[int] = ..., locks_removed: _Optional[int] = ...) -> None: ...

class CopyBackupRequest(_message.Message):
    __slots__ = ("name", "destination_repository", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    destination_repository: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., destination_repository: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CopyResult(_message.Message):
    __slots__ = ("backup", "destination_repository", "blobs_copied", "bytes_copied", "blobs_present")
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    BLOBS_COPIED_FIELD_NUMBER: _ClassVar[int]
    BYTES_COPIED_FIELD_NUMBER: _ClassVar[int]
    BLOBS_PRESENT_FIELD_NUMBER: _ClassVar[int]
    backup: str
    destination_repository: str
    blobs_copied: int
    bytes_copied: int
    blobs_present: int
    def __init__(self, backup: _Optional[str] = ..., destination_repository: _Optional[str] = ..., blobs_copied: _Optional[int] = ..., bytes_copied: _Optional[int] = ..., blobs_present: _Optional[int] = ...) -> None: ...
