"""OperationService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from stowage.v1 import operations_pb2 as ops_pb
from stowage.v1 import operations_pb2_grpc

from .. import names
from ..errors import InvalidArgument
from ..operations import OperationManager
from ..pagination import decode_token, encode_token, page_size
from .mapping import streaming, unary

Ctx = grpc.aio.ServicerContext


class OperationServicer(operations_pb2_grpc.OperationServiceServicer):
    def __init__(self, manager: OperationManager) -> None:
        self.manager = manager

    @unary
    async def GetOperation(
        self, request: ops_pb.GetOperationRequest, context: Ctx
    ) -> ops_pb.Operation:
        return await self.manager.get(names.parse_operation(request.name))

    @unary
    async def ListOperations(
        self, request: ops_pb.ListOperationsRequest, context: Ctx
    ) -> ops_pb.ListOperationsResponse:
        limit = page_size(request.page_size)
        if request.kind not in ops_pb.Operation.Kind.values():
            raise InvalidArgument("kind", "unknown operation kind")
        after = decode_token(request.page_token, "operations")
        before = (float(after[0]), str(after[1])) if after else None
        rows = await self.manager.list(request.target, request.kind, before, limit + 1)
        resp = ops_pb.ListOperationsResponse(operations=[op for _, op in rows[:limit]])
        if len(rows) > limit:
            t, op = rows[limit - 1]
            resp.next_page_token = encode_token("operations", [t, op.name.split("/")[1]])
        return resp

    @streaming
    async def WatchOperation(
        self, request: ops_pb.WatchOperationRequest, context: Ctx
    ) -> AsyncIterator[ops_pb.OperationEvent]:
        op_id = names.parse_operation(request.name)
        async for event in self.manager.watch(op_id, request.after_sequence):
            yield event

    @unary
    async def CancelOperation(
        self, request: ops_pb.CancelOperationRequest, context: Ctx
    ) -> ops_pb.Operation:
        return await self.manager.cancel(names.parse_operation(request.name))
