from stowage.v1 import maintenance_pb2 as _maintenance_pb2
from stowage.v1 import operations_pb2 as _operations_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
