"""RepositoryService."""

from __future__ import annotations

import grpc

from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage.v1 import repository_service_pb2_grpc

from ..prune import PruneEngine
from ..rotation import RotationEngine
from ..verify import VerifyEngine
from .mapping import unary

Ctx = grpc.aio.ServicerContext


class RepositoryServicer(repository_service_pb2_grpc.RepositoryServiceServicer):
    def __init__(self, verify: VerifyEngine, prune: PruneEngine, rotation: RotationEngine) -> None:
        self.verify = verify
        self.prune = prune
        self.rotation = rotation

    @unary
    async def VerifyRepository(
        self, request: mt_pb.VerifyRepositoryRequest, context: Ctx
    ) -> ops_pb.Operation:
        return await self.verify.start(request)

    @unary
    async def PruneRepository(
        self, request: mt_pb.PruneRepositoryRequest, context: Ctx
    ) -> ops_pb.Operation:
        return await self.prune.start(request)

    @unary
    async def RotateKey(self, request: mt_pb.RotateKeyRequest, context: Ctx) -> ops_pb.Operation:
        return await self.rotation.start(request)
