from google.protobuf import empty_pb2 as _empty_pb2
from stowage.v1 import backup_policy_pb2 as _backup_policy_pb2
from stowage.v1 import backups_pb2 as _backups_pb2
from stowage.v1 import maintenance_pb2 as _maintenance_pb2
from stowage.v1 import operations_pb2 as _operations_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
