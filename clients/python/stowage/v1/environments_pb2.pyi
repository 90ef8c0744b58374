import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from stowage.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnvironmentView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENVIRONMENT_VIEW_UNSPECIFIED: _ClassVar[EnvironmentView]
    ENVIRONMENT_VIEW_BASIC: _ClassVar[EnvironmentView]
    ENVIRONMENT_VIEW_FULL: _ClassVar[EnvironmentView]

class ArtifactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_KIND_UNSPECIFIED: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_PARTNER: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_AGREEMENT: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_ASSEMBLY: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_BRIDGE: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_CERTIFICATE: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_TRANSFORM: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_PIPELINE: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_TEMPLATE: _ClassVar[ArtifactKind]
    ARTIFACT_KIND_X12_MAPPING: _ClassVar[ArtifactKind]
ENVIRONMENT_VIEW_UNSPECIFIED: EnvironmentView
ENVIRONMENT_VIEW_BASIC: EnvironmentView
ENVIRONMENT_VIEW_FULL: EnvironmentView
ARTIFACT_KIND_UNSPECIFIED: ArtifactKind
ARTIFACT_KIND_PARTNER: ArtifactKind
ARTIFACT_KIND_AGREEMENT: ArtifactKind
ARTIFACT_KIND_ASSEMBLY: ArtifactKind
ARTIFACT_KIND_BRIDGE: ArtifactKind
ARTIFACT_KIND_CERTIFICATE: ArtifactKind
ARTIFACT_KIND_TRANSFORM: ArtifactKind
ARTIFACT_KIND_PIPELINE: ArtifactKind
ARTIFACT_KIND_TEMPLATE: ArtifactKind
ARTIFACT_KIND_X12_MAPPING: ArtifactKind

class Environment(_message.Message):
    __slots__ = ("name", "uid", "edition", "region", "state", "settings", "create_time", "update_time", "restored_from", "artifact_count", "artifact_bytes")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Environment.State]
        STATE_ACTIVE: _ClassVar[Environment.State]
        STATE_SUSPENDED: _ClassVar[Environment.State]
    STATE_UNSPECIFIED: Environment.State
    STATE_ACTIVE: Environment.State
    STATE_SUSPENDED: Environment.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    EDITION_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FROM_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    uid: str
    edition: _common_pb2.Edition
    region: str
    state: Environment.State
    settings: EnvironmentSettings
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    restored_from: str
    artifact_count: int
    artifact_bytes: int
    def __init__(self, name: _Optional[str] = ..., uid: _Optional[str] = ..., edition: _Optional[_Union[_common_pb2.Edition, str]] = ..., region: _Optional[str] = ..., state: _Optional[_Union[Environment.State, str]] = ..., settings: _Optional[_Union[EnvironmentSettings, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restored_from: _Optional[str] = ..., artifact_count: _Optional[int] = ..., artifact_bytes: _Optional[int] = ...) -> None: ...

class EnvironmentSettings(_message.Message):
    __slots__ = ("scale_units", "product_version", "access_control_namespace", "access_control_key", "tracking_database_connection_string", "archive_storage_connection_string", "monitoring_storage_connection_string", "ssl_certificate", "ssl_certificate_password")
    SCALE_UNITS_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_CONTROL_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ACCESS_CONTROL_KEY_FIELD_NUMBER: _ClassVar[int]
    TRACKING_DATABASE_CONNECTION_STRING_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_STORAGE_CONNECTION_STRING_FIELD_NUMBER: _ClassVar[int]
    MONITORING_STORAGE_CONNECTION_STRING_FIELD_NUMBER: _ClassVar[int]
    SSL_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    SSL_CERTIFICATE_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    scale_units: int
    product_version: str
    access_control_namespace: str
    access_control_key: _common_pb2.Secret
    tracking_database_connection_string: _common_pb2.Secret
    archive_storage_connection_string: _common_pb2.Secret
    monitoring_storage_connection_string: _common_pb2.Secret
    ssl_certificate: _common_pb2.Secret
    ssl_certificate_password: _common_pb2.Secret
    def __init__(self, scale_units: _Optional[int] = ..., product_version: _Optional[str] = ..., access_control_namespace: _Optional[str] = ..., access_control_key: _Optional[_Union[_common_pb2.Secret, _Mapping]] = ..., tracking_database_connection_string: _Optional[_Union[_common_pb2.Secret, _Mapping]] = ..., archive_storage_connection_string: _Optional[_Union[_common_pb2.Secret, _Mapping]] = ..., monitoring_storage_connection_string: _Optional[_Union[_common_pb2.Secret, _Mapping]] = ..., ssl_certificate: _Optional[_Union[_common_pb2.Secret, _Mapping]] = ..., ssl_certificate_password: _Optional[_Union[_common_pb2.Secret, _Mapping]] = ...) -> None: ...

class ProvisionEnvironmentRequest(_message.Message):
    __slots__ = ("environment_id", "environment", "request_id", "validate_only")
    ENVIRONMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    environment_id: str
    environment: Environment
    request_id: str
    validate_only: bool
    def __init__(self, environment_id: _Optional[str] = ..., environment: _Optional[_Union[Environment, _Mapping]] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class GetEnvironmentRequest(_message.Message):
    __slots__ = ("name", "view")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    name: str
    view: EnvironmentView
    def __init__(self, name: _Optional[str] = ..., view: _Optional[_Union[EnvironmentView, str]] = ...) -> None: ...

class ListEnvironmentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEnvironmentsResponse(_message.Message):
    __slots__ = ("environments", "next_page_token")
    ENVIRONMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    environments: _containers.RepeatedCompositeFieldContainer[Environment]
    next_page_token: str
    def __init__(self, environments: _Optional[_Iterable[_Union[Environment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateEnvironmentRequest(_message.Message):
    __slots__ = ("environment", "update_mask")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    environment: Environment
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, environment: _Optional[_Union[Environment, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteEnvironmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SuspendEnvironmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ResumeEnvironmentRequest(_message.Message):
    __slots__ = ("name", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("name", "kind", "size_bytes", "sha256", "metadata", "update_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ArtifactKind
    size_bytes: int
    sha256: str
    metadata: _containers.ScalarMap[str, str]
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PutArtifactRequest(_message.Message):
    __slots__ = ("artifact", "data")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    artifact: Artifact
    data: bytes
    def __init__(self, artifact: _Optional[_Union[Artifact, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetArtifactRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ReadArtifactRequest(_message.Message):
    __slots__ = ("name", "offset")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    name: str
    offset: int
    def __init__(self, name: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class ReadArtifactResponse(_message.Message):
    __slots__ = ("artifact", "data")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    artifact: Artifact
    data: bytes
    def __init__(self, artifact: _Optional[_Union[Artifact, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ListArtifactsRequest(_message.Message):
    __slots__ = ("parent", "kind", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    kind: ArtifactKind
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListArtifactsResponse(_message.Message):
    __slots__ = ("artifacts", "next_page_token")
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    next_page_token: str
    def __init__(self, artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteArtifactRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ImportArtifactsRequest(_message.Message):
    __slots__ = ("artifact", "data")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    artifact: Artifact
    data: bytes
    def __init__(self, artifact: _Optional[_Union[Artifact, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ImportArtifactsResponse(_message.Message):
    __slots__ = ("artifact_count", "total_bytes")
    ARTIFACT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    artifact_count: int
    total_bytes: int
    def __init__(self, artifact_count: _Optional[int] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class ExportArtifactsRequest(_message.Message):
    __slots__ = ("parent", "kind")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    parent: str
    kind: ArtifactKind
    def __init__(self, parent: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ...) -> None: ...

class ExportArtifactsResponse(_message.Message):
    __slots__ = ("artifact", "data")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    artifact: Artifact
    data: bytes
    def __init__(self, artifact: _Optional[_Union[Artifact, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ControlNumbers(_message.Message):
    __slots__ = ("agreement", "interchange", "group", "transaction_set", "update_time")
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    INTERCHANGE_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_SET_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    agreement: str
    interchange: int
    group: int
    transaction_set: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, agreement: _Optional[str] = ..., interchange: _Optional[int] = ..., group: _Optional[int] = ..., transaction_set: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IssueControlNumbersRequest(_message.Message):
    __slots__ = ("agreement", "transaction_sets")
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_SETS_FIELD_NUMBER: _ClassVar[int]
    agreement: str
    transaction_sets: int
    def __init__(self, agreement: _Optional[str] = ..., transaction_sets: _Optional[int] = ...) -> None: ...

class ListControlNumbersRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class ListControlNumbersResponse(_message.Message):
    __slots__ = ("control_numbers",)
    CONTROL_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    control_numbers: _containers.RepeatedCompositeFieldContainer[ControlNumbers]
    def __init__(self, control_numbers: _Optional[_Iterable[_Union[ControlNumbers, _Mapping]]] = ...) -> None: ...

class RecordAs2MessageRequest(_message.Message):
    __slots__ = ("parent", "message_id", "mic")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MIC_FIELD_NUMBER: _ClassVar[int]
    parent: str
    message_id: str
    mic: str
    def __init__(self, parent: _Optional[str] = ..., message_id: _Optional[str] = ..., mic: _Optional[str] = ...) -> None: ...

class RecordAs2MessageResponse(_message.Message):
    __slots__ = ("duplicate", "mic", "first_seen_time")
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    MIC_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    mic: str
    first_seen_time: _timestamp_pb2.Timestamp
    def __init__(self, duplicate: _Optional[bool] = ..., mic: _Optional[str] = ..., first_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("name", "active_message_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    active_message_count: int
    def __init__(self, name: _Optional[str] = ..., active_message_count: _Optional[int] = ...) -> None: ...

class AddBatchMessageRequest(_message.Message):
    __slots__ = ("batch", "message_id")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    batch: str
    message_id: str
    def __init__(self, batch: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class ReleaseBatchRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListBatchesRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class ListBatchesResponse(_message.Message):
    __slots__ = ("batches",)
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    batches: _containers.RepeatedCompositeFieldContainer[Batch]
    def __init__(self, batches: _Optional[_Iterable[_Union[Batch, _Mapping]]] = ...) -> None: ...

class HybridConnection(_message.Message):
    __slots__ = ("name", "endpoint")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    name: str
    endpoint: str
    def __init__(self, name: _Optional[str] = ..., endpoint: _Optional[str] = ...) -> None: ...

class CreateHybridConnectionRequest(_message.Message):
    __slots__ = ("parent", "hybrid_connection_id", "hybrid_connection")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    HYBRID_CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    HYBRID_CONNECTION_FIELD_NUMBER: _ClassVar[int]
    parent: str
    hybrid_connection_id: str
    hybrid_connection: HybridConnection
    def __init__(self, parent: _Optional[str] = ..., hybrid_connection_id: _Optional[str] = ..., hybrid_connection: _Optional[_Union[HybridConnection, _Mapping]] = ...) -> None: ...

class DeleteHybridConnectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListHybridConnectionsRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class ListHybridConnectionsResponse(_message.Message):
    __slots__ = ("hybrid_connections",)
    HYBRID_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    hybrid_connections: _containers.RepeatedCompositeFieldContainer[HybridConnection]
    def __init__(self, hybrid_connections: _Optional[_Iterable[_Union[HybridConnection, _Mapping]]] = ...) -> None: ...
