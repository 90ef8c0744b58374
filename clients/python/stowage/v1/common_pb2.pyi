from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Edition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EDITION_UNSPECIFIED: _ClassVar[Edition]
    EDITION_DEVELOPER: _ClassVar[Edition]
    EDITION_BASIC: _ClassVar[Edition]
    EDITION_STANDARD: _ClassVar[Edition]
    EDITION_PREMIUM: _ClassVar[Edition]
EDITION_UNSPECIFIED: Edition
EDITION_DEVELOPER: Edition
EDITION_BASIC: Edition
EDITION_STANDARD: Edition
EDITION_PREMIUM: Edition

class Secret(_message.Message):
    __slots__ = ("value", "set", "fingerprint")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    value: bytes
    set: bool
    fingerprint: str
    def __init__(self, value: _Optional[bytes] = ..., set: _Optional[bool] = ..., fingerprint: _Optional[str] = ...) -> None: ...
