import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from stowage.v1 import backup_policy_pb2 as _backup_policy_pb2
from stowage.v1 import backups_pb2 as _backups_pb2
from stowage.v1 import common_pb2 as _common_pb2
from stowage.v1 import environments_pb2 as _environments_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BackupManifest(_message.Message):
    __slots__ = ("format_version", "backup", "environment_uid", "edition", "region", "snapshot_time", "settings", "items", "control_numbers", "as2_messages", "excluded", "warnings", "data_key_id", "backup_policy")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_UID_FIELD_NUMBER: _ClassVar[int]
    EDITION_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TIME_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CONTROL_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    AS2_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    DATA_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    BACKUP_POLICY_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    backup: str
    environment_uid: str
    edition: _common_pb2.Edition
    region: str
    snapshot_time: _timestamp_pb2.Timestamp
    settings: ManifestSettings
    items: _containers.RepeatedCompositeFieldContainer[ManifestItem]
    control_numbers: _containers.RepeatedCompositeFieldContainer[_environments_pb2.ControlNumbers]
    as2_messages: _containers.RepeatedCompositeFieldContainer[As2MessageRecord]
    excluded: _containers.RepeatedCompositeFieldContainer[_backups_pb2.ExcludedItem]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    data_key_id: str
    backup_policy: _backup_policy_pb2.BackupPolicy
    def __init__(self, format_version: _Optional[int] = ..., backup: _Optional[str] = ..., environment_uid: _Optional[str] = ..., edition: _Optional[_Union[_common_pb2.Edition, str]] = ..., region: _Optional[str] = ..., snapshot_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., settings: _Optional[_Union[ManifestSettings, _Mapping]] = ..., items: _Optional[_Iterable[_Union[ManifestItem, _Mapping]]] = ..., control_numbers: _Optional[_Iterable[_Union[_environments_pb2.ControlNumbers, _Mapping]]] = ..., as2_messages: _Optional[_Iterable[_Union[As2MessageRecord, _Mapping]]] = ..., excluded: _Optional[_Iterable[_Union[_backups_pb2.ExcludedItem, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., data_key_id: _Optional[str] = ..., backup_policy: _Optional[_Union[_backup_policy_pb2.BackupPolicy, _Mapping]] = ...) -> None: ...

class ManifestItem(_message.Message):
    __slots__ = ("kind", "id", "sha256", "size_bytes", "metadata", "chunks", "update_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    kind: _environments_pb2.ArtifactKind
    id: str
    sha256: bytes
    size_bytes: int
    metadata: _containers.ScalarMap[str, str]
    chunks: _containers.RepeatedCompositeFieldContainer[BlobRef]
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[_environments_pb2.ArtifactKind, str]] = ..., id: _Optional[str] = ..., sha256: _Optional[bytes] = ..., size_bytes: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ..., chunks: _Optional[_Iterable[_Union[BlobRef, _Mapping]]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BlobRef(_message.Message):
    __slots__ = ("sha256", "size_bytes")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    sha256: bytes
    size_bytes: int
    def __init__(self, sha256: _Optional[bytes] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class EncryptedValue(_message.Message):
    __slots__ = ("nonce", "ciphertext")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    nonce: bytes
    ciphertext: bytes
    def __init__(self, nonce: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class ManifestSettings(_message.Message):
    __slots__ = ("scale_units", "product_version", "access_control_namespace", "secrets")
    class SecretsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: EncryptedValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[EncryptedValue, _Mapping]] = ...) -> None: ...
    SCALE_UNITS_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_CONTROL_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    scale_units: int
    product_version: str
    access_control_namespace: str
    secrets: _containers.MessageMap[str, EncryptedValue]
    def __init__(self, scale_units: _Optional[int] = ..., product_version: _Optional[str] = ..., access_control_namespace: _Optional[str] = ..., secrets: _Optional[_Mapping[str, EncryptedValue]] = ...) -> None: ...

class As2MessageRecord(_message.Message):
    __slots__ = ("message_id", "mic", "first_seen_time")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MIC_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    mic: str
    first_seen_time: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[str] = ..., mic: _Optional[str] = ..., first_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
