import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RepositoryConfig(_message.Message):
    __slots__ = ("format_version", "repository_id", "create_time", "key_check", "chunk_average_bytes", "chunk_threshold_bytes")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_CHECK_FIELD_NUMBER: _ClassVar[int]
    CHUNK_AVERAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_THRESHOLD_BYTES_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    repository_id: str
    create_time: _timestamp_pb2.Timestamp
    key_check: bytes
    chunk_average_bytes: int
    chunk_threshold_bytes: int
    def __init__(self, format_version: _Optional[int] = ..., repository_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_check: _Optional[bytes] = ..., chunk_average_bytes: _Optional[int] = ..., chunk_threshold_bytes: _Optional[int] = ...) -> None: ...

class PackEntry(_message.Message):
    __slots__ = ("sha256", "offset", "length", "raw_length")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    RAW_LENGTH_FIELD_NUMBER: _ClassVar[int]
    sha256: bytes
    offset: int
    length: int
    raw_length: int
    def __init__(self, sha256: _Optional[bytes] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., raw_length: _Optional[int] = ...) -> None: ...

class PackTrailer(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[PackEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[PackEntry, _Mapping]]] = ...) -> None: ...

class IndexFile(_message.Message):
    __slots__ = ("packs",)
    PACKS_FIELD_NUMBER: _ClassVar[int]
    packs: _containers.RepeatedCompositeFieldContainer[IndexedPack]
    def __init__(self, packs: _Optional[_Iterable[_Union[IndexedPack, _Mapping]]] = ...) -> None: ...

class IndexedPack(_message.Message):
    __slots__ = ("pack", "entries")
    PACK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    pack: str
    entries: _containers.RepeatedCompositeFieldContainer[PackEntry]
    def __init__(self, pack: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[PackEntry, _Mapping]]] = ...) -> None: ...

class WrappedKey(_message.Message):
    __slots__ = ("key_id", "nonce", "ciphertext")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    nonce: bytes
    ciphertext: bytes
    def __init__(self, key_id: _Optional[str] = ..., nonce: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class LockRecord(_message.Message):
    __slots__ = ("mode", "owner", "expire_time")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[LockRecord.Mode]
        MODE_SHARED: _ClassVar[LockRecord.Mode]
        MODE_EXCLUSIVE: _ClassVar[LockRecord.Mode]
    MODE_UNSPECIFIED: LockRecord.Mode
    MODE_SHARED: LockRecord.Mode
    MODE_EXCLUSIVE: LockRecord.Mode
    MODE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    mode: LockRecord.Mode
    owner: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, mode: _Optional[_Union[LockRecord.Mode, str]] = ..., owner: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
