"""BackupService."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from stowage.v1 import backup_policy_pb2 as pol_pb
from stowage.v1 import backup_service_pb2_grpc
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import diffs_pb2 as df_pb
from stowage.v1 import drills_pb2 as dr_pb
from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import operations_pb2 as ops_pb

from .. import names
from ..backup import BackupEngine
from ..backup_copy import CopyEngine
from ..catalog import BackupCatalog
from ..diff import DiffEngine
from ..drill import DrillEngine
from ..pagination import decode_token, encode_token, page_size
from ..policies import PolicyEngine
from ..restore import RestoreEngine
from .mapping import unary

Ctx = grpc.aio.ServicerContext


class BackupServicer(backup_service_pb2_grpc.BackupServiceServicer):
    def __init__(
        self,
        backups: BackupEngine,
        restores: RestoreEngine,
        catalog: BackupCatalog,
        copies: CopyEngine,
        policies: PolicyEngine,
        drills: DrillEngine,
        diffs: DiffEngine,
    ) -> None:
        self.backups = backups
        self.restores = restores
        self.catalog = catalog
        self.copies = copies
        self.policies = policies
        self.drills = drills
        self.diffs = diffs

    @unary
    async def CreateBackup(
        self, request: bk_pb.CreateBackupRequest, context: Ctx
    ) -> ops_pb.Operation:
        return await self.backups.start(request)

    @unary
    async def GetBackup(self, request: bk_pb.GetBackupRequest, context: Ctx) -> bk_pb.Backup:
        return await self.catalog.get(request.name)

    @unary
    async def ListBackups(
        self, request: bk_pb.ListBackupsRequest, context: Ctx
    ) -> bk_pb.ListBackupsResponse:
        env_id = names.parse_environment_or_all(request.parent)
        limit = page_size(request.page_size)
        after = decode_token(request.page_token, "backups")
        backups = await self.catalog.list(env_id, tuple(after) if after else None, limit + 1)
        resp = bk_pb.ListBackupsResponse(backups=backups[:limit])
        if len(backups) > limit:
            last = names.parse_backup(backups[limit - 1].name)
            resp.next_page_token = encode_token("backups", [last.backup_id, last.environment])
        return resp

    @unary
    async def DeleteBackup(
        self, request: bk_pb.DeleteBackupRequest, context: Ctx
    ) -> empty_pb2.Empty:
        await self.catalog.delete(request.name)
        return empty_pb2.Empty()

    @unary
    async def RestoreBackup(
        self, request: bk_pb.RestoreBackupRequest, context: Ctx
    ) -> ops_pb.Operation:
        return await self.restores.start(request)

    @unary
    async def DrillBackup(
        self, request: dr_pb.DrillBackupRequest, context: Ctx
    ) -> ops_pb.Operation:
        return await self.drills.start(request)

    @unary
    async def DiffBackup(
        self, request: df_pb.DiffBackupRequest, context: Ctx
    ) -> df_pb.DiffBackupResponse:
        return await self.diffs.diff(request)

    @unary
    async def GetBackupStatus(
        self, request: bk_pb.GetBackupStatusRequest, context: Ctx
    ) -> bk_pb.GetBackupStatusResponse:
        env_id = names.parse_environment_or_all(request.parent)
        return bk_pb.GetBackupStatusResponse(statuses=await self.catalog.status(env_id))

    @unary
    async def GetBackupPolicy(
        self, request: pol_pb.GetBackupPolicyRequest, context: Ctx
    ) -> pol_pb.BackupPolicy:
        return await self.policies.get(request.name)

    @unary
    async def SetBackupPolicy(
        self, request: pol_pb.SetBackupPolicyRequest, context: Ctx
    ) -> pol_pb.BackupPolicy:
        return await self.policies.set(request)

    @unary
    async def DeleteBackupPolicy(
        self, request: pol_pb.DeleteBackupPolicyRequest, context: Ctx
    ) -> empty_pb2.Empty:
        await self.policies.delete(request)
        return empty_pb2.Empty()

    @unary
    async def CopyBackup(self, request: mt_pb.CopyBackupRequest, context: Ctx) -> ops_pb.Operation:
        return await self.copies.start(request)
