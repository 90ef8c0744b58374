"""EnvironmentService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2

from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import environments_pb2_grpc

from ..artifacts import ArtifactEngine
from ..clock import timestamp
from ..environments import EnvironmentEngine
from ..pagination import decode_token, encode_token, page_size
from ..registry import ArtifactRecord, ControlNumberRecord, EnvRecord
from ..runtime import RuntimeEngine
from .mapping import streaming, unary

Ctx = grpc.aio.ServicerContext


def environment_message(
    engine: EnvironmentEngine, env: EnvRecord, reveal: bool = False
) -> env_pb.Environment:
    return env_pb.Environment(
        name=f"environments/{env.name}",
        uid=env.uid,
        edition=env.edition,
        region=env.region,
        state=env.state,
        settings=engine.settings_view(env, reveal),
        create_time=timestamp(env.create_time),
        update_time=timestamp(env.update_time),
        restored_from=env.restored_from,
        artifact_count=env.artifact_count,
        artifact_bytes=env.artifact_bytes,
    )


def artifact_message(a: ArtifactRecord) -> env_pb.Artifact:
    return env_pb.Artifact(
        name=a.name,
        kind=a.kind,
        size_bytes=a.size,
        sha256=a.sha256.hex(),
        metadata=a.metadata,
        update_time=timestamp(a.update_time),
    )


def control_numbers_message(env_id: str, c: ControlNumberRecord) -> env_pb.ControlNumbers:
    return env_pb.ControlNumbers(
        agreement=f"environments/{env_id}/agreements/{c.agreement}",
        interchange=c.interchange,
        group=c.group,
        transaction_set=c.transaction_set,
        update_time=timestamp(c.update_time),
    )


class EnvironmentServicer(environments_pb2_grpc.EnvironmentServiceServicer):
    def __init__(
        self, envs: EnvironmentEngine, artifacts: ArtifactEngine, runtime: RuntimeEngine
    ) -> None:
        self.envs = envs
        self.artifacts = artifacts
        self.runtime = runtime

    @unary
    async def ProvisionEnvironment(
        self, request: env_pb.ProvisionEnvironmentRequest, context: Ctx
    ) -> env_pb.Environment:
        return environment_message(self.envs, await self.envs.provision(request))

    @unary
    async def GetEnvironment(
        self, request: env_pb.GetEnvironmentRequest, context: Ctx
    ) -> env_pb.Environment:
        env = await self.envs.get(request.name)
        out = environment_message(
            self.envs, env, reveal=request.view == env_pb.ENVIRONMENT_VIEW_FULL
        )
        out.checklist.extend(await self.envs.checklist(env.name))
        return out

    @unary
    async def ListEnvironments(
        self, request: env_pb.ListEnvironmentsRequest, context: Ctx
    ) -> env_pb.ListEnvironmentsResponse:
        limit = page_size(request.page_size)
        after = decode_token(request.page_token, "environments") or ""
        envs = await self.envs.list(str(after), limit + 1)
        resp = env_pb.ListEnvironmentsResponse(
            environments=[environment_message(self.envs, e) for e in envs[:limit]]
        )
        if len(envs) > limit:
            resp.next_page_token = encode_token("environments", envs[limit - 1].name)
        return resp

    @unary
    async def UpdateEnvironment(
        self, request: env_pb.UpdateEnvironmentRequest, context: Ctx
    ) -> env_pb.Environment:
        return environment_message(self.envs, await self.envs.update(request))

    @unary
    async def DeleteEnvironment(
        self, request: env_pb.DeleteEnvironmentRequest, context: Ctx
    ) -> empty_pb2.Empty:
        await self.envs.delete(request.name)
        return empty_pb2.Empty()

    @unary
    async def SuspendEnvironment(
        self, request: env_pb.SuspendEnvironmentRequest, context: Ctx
    ) -> env_pb.Environment:
        return environment_message(self.envs, await self.envs.suspend(request.name))

    @unary
    async def ResumeEnvironment(
        self, request: env_pb.ResumeEnvironmentRequest, context: Ctx
    ) -> env_pb.Environment:
        return environment_message(self.envs, await self.envs.resume(request.name, request.force))

    @unary
    async def AcknowledgeChecklistItem(
        self, request: env_pb.AcknowledgeChecklistItemRequest, context: Ctx
    ) -> env_pb.ChecklistItem:
        return await self.envs.acknowledge(request.name, request.note)

    @unary
    async def PutArtifact(
        self, request_iterator: AsyncIterator[env_pb.PutArtifactRequest], context: Ctx
    ) -> env_pb.Artifact:
        return artifact_message(await self.artifacts.put(request_iterator))

    @unary
    async def GetArtifact(
        self, request: env_pb.GetArtifactRequest, context: Ctx
    ) -> env_pb.Artifact:
        record, _ = await self.artifacts.get(request.name)
        return artifact_message(record)

    @streaming
    async def ReadArtifact(
        self, request: env_pb.ReadArtifactRequest, context: Ctx
    ) -> AsyncIterator[env_pb.ReadArtifactResponse]:
        record, info = await self.artifacts.get(request.name)
        first = True
        async for piece in self.artifacts.read(record, info, request.offset):
            if first:
                yield env_pb.ReadArtifactResponse(artifact=artifact_message(record), data=piece)
                first = False
            else:
                yield env_pb.ReadArtifactResponse(data=piece)
        if first:
            yield env_pb.ReadArtifactResponse(artifact=artifact_message(record))

    @unary
    async def ListArtifacts(
        self, request: env_pb.ListArtifactsRequest, context: Ctx
    ) -> env_pb.ListArtifactsResponse:
        limit = page_size(request.page_size)
        after = decode_token(request.page_token, "artifacts") or [0, ""]
        records = await self.artifacts.list(
            request.parent, request.kind, (int(after[0]), str(after[1])), limit + 1
        )
        resp = env_pb.ListArtifactsResponse(
            artifacts=[artifact_message(a) for a in records[:limit]]
        )
        if len(records) > limit:
            last = records[limit - 1]
            resp.next_page_token = encode_token("artifacts", [last.kind, last.artifact_id])
        return resp

    @unary
    async def DeleteArtifact(
        self, request: env_pb.DeleteArtifactRequest, context: Ctx
    ) -> empty_pb2.Empty:
        await self.artifacts.delete(request.name)
        return empty_pb2.Empty()

    @unary
    async def ImportArtifacts(
        self, request_iterator: AsyncIterator[env_pb.ImportArtifactsRequest], context: Ctx
    ) -> env_pb.ImportArtifactsResponse:
        count, total = await self.artifacts.import_(request_iterator)
        return env_pb.ImportArtifactsResponse(artifact_count=count, total_bytes=total)

    @streaming
    async def ExportArtifacts(
        self, request: env_pb.ExportArtifactsRequest, context: Ctx
    ) -> AsyncIterator[env_pb.ExportArtifactsResponse]:
        async for record, info in self.artifacts.export(request.parent, request.kind):
            first = True
            async for piece in self.artifacts.read(record, info):
                if first:
                    yield env_pb.ExportArtifactsResponse(
                        artifact=artifact_message(record), data=piece
                    )
                    first = False
                else:
                    yield env_pb.ExportArtifactsResponse(data=piece)
            if first:
                yield env_pb.ExportArtifactsResponse(artifact=artifact_message(record))

    @unary
    async def IssueControlNumbers(
        self, request: env_pb.IssueControlNumbersRequest, context: Ctx
    ) -> env_pb.ControlNumbers:
        record = await self.runtime.issue_control_numbers(
            request.agreement, request.transaction_sets
        )
        env_id = request.agreement.split("/")[1]
        return control_numbers_message(env_id, record)

    @unary
    async def ListControlNumbers(
        self, request: env_pb.ListControlNumbersRequest, context: Ctx
    ) -> env_pb.ListControlNumbersResponse:
        records = await self.runtime.list_control_numbers(request.parent)
        env_id = request.parent.split("/")[1]
        return env_pb.ListControlNumbersResponse(
            control_numbers=[control_numbers_message(env_id, c) for c in records]
        )

    @unary
    async def RecordAs2Message(
        self, request: env_pb.RecordAs2MessageRequest, context: Ctx
    ) -> env_pb.RecordAs2MessageResponse:
        duplicate, mic, seen = await self.runtime.record_as2(
            request.parent, request.message_id, request.mic
        )
        resp = env_pb.RecordAs2MessageResponse(duplicate=duplicate, mic=mic)
        if seen:
            resp.first_seen_time.CopyFrom(timestamp(seen))
        return resp

    @unary
    async def AddBatchMessage(
        self, request: env_pb.AddBatchMessageRequest, context: Ctx
    ) -> env_pb.Batch:
        env_id, batch, count = await self.runtime.add_batch_message(
            request.batch, request.message_id
        )
        return env_pb.Batch(
            name=f"environments/{env_id}/batches/{batch}", active_message_count=count
        )

    @unary
    async def ReleaseBatch(self, request: env_pb.ReleaseBatchRequest, context: Ctx) -> env_pb.Batch:
        env_id, batch, count = await self.runtime.release_batch(request.name)
        return env_pb.Batch(
            name=f"environments/{env_id}/batches/{batch}", active_message_count=count
        )

    @unary
    async def ListBatches(
        self, request: env_pb.ListBatchesRequest, context: Ctx
    ) -> env_pb.ListBatchesResponse:
        env_id, batches = await self.runtime.list_batches(request.parent)
        return env_pb.ListBatchesResponse(
            batches=[
                env_pb.Batch(name=f"environments/{env_id}/batches/{b}", active_message_count=n)
                for b, n in batches
            ]
        )

    @unary
    async def CreateHybridConnection(
        self, request: env_pb.CreateHybridConnectionRequest, context: Ctx
    ) -> env_pb.HybridConnection:
        env_id, hc_id = await self.runtime.create_hybrid_connection(
            request.parent, request.hybrid_connection_id, request.hybrid_connection.endpoint
        )
        return env_pb.HybridConnection(
            name=f"environments/{env_id}/hybridConnections/{hc_id}",
            endpoint=request.hybrid_connection.endpoint,
        )

    @unary
    async def DeleteHybridConnection(
        self, request: env_pb.DeleteHybridConnectionRequest, context: Ctx
    ) -> empty_pb2.Empty:
        await self.runtime.delete_hybrid_connection(request.name)
        return empty_pb2.Empty()

    @unary
    async def ListHybridConnections(
        self, request: env_pb.ListHybridConnectionsRequest, context: Ctx
    ) -> env_pb.ListHybridConnectionsResponse:
        env_id, hcs = await self.runtime.list_hybrid_connections(request.parent)
        return env_pb.ListHybridConnectionsResponse(
            hybrid_connections=[
                env_pb.HybridConnection(
                    name=f"environments/{env_id}/hybridConnections/{h}", endpoint=e
                )
                for h, e in hcs
            ]
        )
