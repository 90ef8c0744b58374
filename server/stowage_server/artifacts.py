"""Artifact transfer: streamed uploads, downloads, imports and exports.

Content is hashed as it arrives (the digest is computed once, here) and never
held whole in memory: beyond a small size it spills to a staging file that
becomes visible only when the registry's transaction commits.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import TypeVar

from stowage.v1 import environments_pb2 as env_pb

from . import names
from .content import ContentTooLarge, ContentWriter, StagedContent
from .errors import Collected, InvalidArgument, LimitExceeded
from .registry import ArtifactRecord, ContentInfo, Registry

T = TypeVar("T")
READ_PIECE = 1 << 20
MAX_METADATA = 64
_META_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
# An import commits once this much content waits in memory, or this many artifacts.
_IMPORT_BATCH_BYTES = 32 << 20
_IMPORT_BATCH_COUNT = 2000

Header = env_pb.Artifact


def validate_metadata(metadata: dict[str, str], field: str, errors: Collected) -> None:
    if len(metadata) > MAX_METADATA:
        errors.add(field, f"at most {MAX_METADATA} entries")
    for k, v in metadata.items():
        if not _META_KEY.match(k):
            errors.add(
                f"{field}[{k!r}]", "keys are 1 to 64 lowercase letters, digits, '.', '_' and '-'"
            )
        if len(v) > 1024 or not v.isprintable():
            errors.add(f"{field}[{k!r}]", "values are at most 1024 printable characters")


class ArtifactEngine:
    def __init__(self, registry: Registry, executor: Executor | None, max_size: int) -> None:
        self.registry = registry
        self._executor = executor
        self.max_size = max_size

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _check_header(self, header: Header, field: str) -> names.ArtifactName:
        parsed = names.parse_artifact(header.name, f"{field}.name")
        errors = Collected()
        validate_metadata(dict(header.metadata), f"{field}.metadata", errors)
        if header.sha256 and not _SHA256.match(header.sha256):
            errors.add(f"{field}.sha256", "64 lowercase hex digits")
        if header.size_bytes < 0:
            errors.add(f"{field}.size_bytes", "must not be negative")
        elif header.size_bytes > self.max_size:
            raise LimitExceeded(
                f"artifact of {header.size_bytes} bytes exceeds the limit of {self.max_size}",
                metadata={"limit": "max_artifact_size", "max_bytes": str(self.max_size)},
            )
        errors.raise_if_any()
        return parsed

    async def _write(self, writer: ContentWriter, data: bytes) -> None:
        try:
            if len(data) > 64 * 1024:
                await self.run(lambda: writer.write(data))
            else:
                writer.write(data)
        except ContentTooLarge:
            raise LimitExceeded(
                f"artifact exceeds the limit of {self.max_size} bytes",
                metadata={"limit": "max_artifact_size", "max_bytes": str(self.max_size)},
            ) from None

    async def _finish(self, writer: ContentWriter, header: Header, field: str) -> StagedContent:
        # Large content is synced and chunked in a worker; small content is a digest away.
        staged = writer.finish() if writer.in_memory else await self.run(writer.finish)
        problem = None
        if header.size_bytes and staged.size != header.size_bytes:
            problem = (
                f"{field}.size_bytes",
                f"declared {header.size_bytes} bytes, received {staged.size}",
            )
        elif header.sha256 and staged.sha256.hex() != header.sha256:
            problem = (f"{field}.sha256", "the content received does not match the declared digest")
        if problem:
            self.registry.content.discard(staged)
            raise InvalidArgument(*problem)
        return staged

    async def put(self, requests: AsyncIterator[env_pb.PutArtifactRequest]) -> ArtifactRecord:
        writer: ContentWriter | None = None
        header: Header | None = None
        parsed = None
        staged: StagedContent | None = None
        try:
            async for req in requests:
                if req.HasField("artifact"):
                    if header is not None:
                        raise InvalidArgument(
                            "artifact", "only the first message may carry the header"
                        )
                    header = req.artifact
                    parsed = self._check_header(header, "artifact")
                    writer = self.registry.content.writer(self.max_size)
                elif header is None:
                    raise InvalidArgument("artifact", "the first message must carry the header")
                if req.data:
                    assert writer is not None
                    await self._write(writer, req.data)
            if header is None or writer is None or parsed is None:
                raise InvalidArgument("artifact", "the stream carried no artifact")
            if header.sha256 and writer.size == 0:
                # Content uploaded before through BlobService: reference it by digest.
                writer.abort()
                writer = None
                p, h = parsed, header
                return await self.run(
                    lambda: self.registry.put_artifact_ref(
                        p.environment,
                        p.kind,
                        p.artifact_id,
                        bytes.fromhex(h.sha256),
                        h.size_bytes,
                        dict(h.metadata),
                    )
                )
            staged = await self._finish(writer, header, "artifact")
            writer = None
            s = staged
            p = parsed
            meta = dict(header.metadata)
            records = await self.run(
                lambda: self.registry.put_artifacts(
                    p.environment, [(p.kind, p.artifact_id, s, meta)]
                )
            )
            staged = None
            return records[0]
        finally:
            if writer is not None:
                writer.abort()
            if staged is not None:
                self.registry.content.discard(staged)

    async def import_(
        self, requests: AsyncIterator[env_pb.ImportArtifactsRequest]
    ) -> tuple[int, int]:
        env_id: str | None = None
        batch: list[tuple[int, str, StagedContent, dict[str, str]]] = []
        batch_bytes = 0
        count = total = 0
        writer: ContentWriter | None = None
        header: Header | None = None
        parsed: names.ArtifactName | None = None

        async def close_current() -> None:
            nonlocal writer, batch_bytes
            if writer is None or header is None or parsed is None:
                return
            staged = await self._finish(writer, header, "artifact")
            writer = None
            batch.append((parsed.kind, parsed.artifact_id, staged, dict(header.metadata)))
            batch_bytes += staged.size if staged.inline is not None else 0

        async def commit() -> None:
            nonlocal batch, batch_bytes, count
            if not batch:
                return
            items, batch, batch_bytes = batch, [], 0
            e = env_id
            assert e is not None
            try:
                await self.run(lambda: self.registry.put_artifacts(e, items))
            except BaseException:
                for _, _, s, _ in items:
                    self.registry.content.discard(s)
                raise
            count += len(items)

        try:
            async for req in requests:
                if req.HasField("artifact"):
                    await close_current()
                    if batch_bytes >= _IMPORT_BATCH_BYTES or len(batch) >= _IMPORT_BATCH_COUNT:
                        await commit()
                    header = req.artifact
                    parsed = self._check_header(header, "artifact")
                    if env_id is None:
                        env_id = parsed.environment
                    elif parsed.environment != env_id:
                        raise InvalidArgument(
                            "artifact.name",
                            "every artifact of an import belongs to one environment",
                        )
                    writer = self.registry.content.writer(self.max_size)
                elif header is None:
                    raise InvalidArgument("artifact", "the first message must carry a header")
                if req.data:
                    assert writer is not None
                    total += len(req.data)
                    await self._write(writer, req.data)
            await close_current()
            await commit()
            return count, total
        finally:
            if writer is not None:
                writer.abort()
            for _, _, s, _ in batch:
                self.registry.content.discard(s)

    async def get(self, name: str) -> tuple[ArtifactRecord, ContentInfo]:
        p = names.parse_artifact(name)
        return await self.run(
            lambda: self.registry.get_artifact(p.environment, p.kind, p.artifact_id)
        )

    async def read(
        self, record: ArtifactRecord, info: ContentInfo, offset: int = 0
    ) -> AsyncIterator[bytes]:
        if offset < 0 or offset > record.size:
            raise InvalidArgument("offset", f"must be 0 to {record.size}")
        if info.is_inline:
            data = info.inline or b""
            for start in range(offset, len(data), READ_PIECE):
                yield data[start : start + READ_PIECE]
            return
        # One open file for the whole stream: a concurrent delete cannot cut it short.
        fd = await self.run(lambda: os.open(self.registry.content.path(info.sha256), os.O_RDONLY))
        try:
            position = offset
            while position < record.size:
                piece = await self.run(lambda p=position: os.pread(fd, READ_PIECE, p))
                if not piece:
                    break
                position += len(piece)
                yield piece
        finally:
            os.close(fd)

    async def list(
        self, parent: str, kind: int, after: tuple[int, str], limit: int
    ) -> list[ArtifactRecord]:
        env_id = names.parse_environment(parent, "parent")
        if kind and kind not in names.COLLECTIONS:
            raise InvalidArgument("kind", "unknown artifact kind")
        return await self.run(lambda: self.registry.list_artifacts(env_id, kind, after, limit))

    async def delete(self, name: str) -> None:
        p = names.parse_artifact(name)
        await self.run(lambda: self.registry.delete_artifact(p.environment, p.kind, p.artifact_id))

    async def export(
        self, parent: str, kind: int
    ) -> AsyncIterator[tuple[ArtifactRecord, ContentInfo]]:
        env_id = names.parse_environment(parent, "parent")
        after: tuple[int, str] = (0, "")
        while True:
            page = await self.run(
                lambda a=after: self.registry.list_artifacts(env_id, kind, a, 500)
            )
            for record in page:
                info = await self.run(lambda r=record: self.registry.content_info(r.sha256))
                yield record, info
            if len(page) < 500:
                return
            after = (page[-1].kind, page[-1].artifact_id)
