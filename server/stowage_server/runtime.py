"""Runtime state of an environment that backup and restore rules depend on:
EDI control numbers, AS2 message records, batches and hybrid connections."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from . import names
from .errors import InvalidArgument
from .registry import ControlNumberRecord, Registry

T = TypeVar("T")
_PRINTABLE_ASCII = re.compile(r"^[\x21-\x7e]+\Z")
_ENDPOINT = re.compile(r"^[A-Za-z0-9.\-]{1,253}:[0-9]{1,5}\Z")


class RuntimeEngine:
    def __init__(self, registry: Registry, executor: Executor | None) -> None:
        self.registry = registry
        self._executor = executor

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def issue_control_numbers(self, agreement: str, sets: int) -> ControlNumberRecord:
        parsed = names.parse_agreement(agreement)
        if sets < 0 or sets > 10000:
            raise InvalidArgument("transaction_sets", "must be 1 to 10000")
        n = sets or 1
        return await self.run(
            lambda: self.registry.issue_control_numbers(parsed.environment, parsed.artifact_id, n)
        )

    async def list_control_numbers(self, parent: str) -> list[ControlNumberRecord]:
        env_id = names.parse_environment(parent, "parent")
        return await self.run(lambda: self.registry.list_control_numbers(env_id))

    async def record_as2(self, parent: str, message_id: str, mic: str) -> tuple[bool, str, float]:
        env_id = names.parse_environment(parent, "parent")
        if (
            not message_id
            or len(message_id) > 998
            or not _PRINTABLE_ASCII.match(message_id.replace(" ", "!"))
        ):
            raise InvalidArgument("message_id", "1 to 998 printable ASCII characters")
        if len(mic) > 256 or not mic.isprintable():
            raise InvalidArgument("mic", "at most 256 printable characters")
        return await self.run(lambda: self.registry.record_as2(env_id, message_id, mic))

    async def add_batch_message(self, batch: str, message_id: str) -> tuple[str, str, int]:
        env_id, batch_id = names.parse_child(batch, "batches", "batch")
        if not message_id or len(message_id) > 256 or not _PRINTABLE_ASCII.match(message_id):
            raise InvalidArgument("message_id", "1 to 256 printable ASCII characters")
        count = await self.run(
            lambda: self.registry.add_batch_message(env_id, batch_id, message_id)
        )
        return env_id, batch_id, count

    async def release_batch(self, name: str) -> tuple[str, str, int]:
        env_id, batch_id = names.parse_child(name, "batches")
        count = await self.run(lambda: self.registry.release_batch(env_id, batch_id))
        return env_id, batch_id, count

    async def list_batches(self, parent: str) -> tuple[str, list[tuple[str, int]]]:
        env_id = names.parse_environment(parent, "parent")
        return env_id, await self.run(lambda: self.registry.list_batches(env_id))

    async def create_hybrid_connection(
        self, parent: str, hc_id: str, endpoint: str
    ) -> tuple[str, str]:
        env_id = names.parse_environment(parent, "parent")
        names.check_environment_id(hc_id, "hybrid_connection_id")
        if not _ENDPOINT.match(endpoint) or not 0 < int(endpoint.rsplit(":", 1)[1]) < 65536:
            raise InvalidArgument("hybrid_connection.endpoint", "must be host:port")
        await self.run(lambda: self.registry.create_hybrid_connection(env_id, hc_id, endpoint))
        return env_id, hc_id

    async def delete_hybrid_connection(self, name: str) -> None:
        env_id, hc_id = names.parse_child(name, "hybridConnections")
        await self.run(lambda: self.registry.delete_hybrid_connection(env_id, hc_id))

    async def list_hybrid_connections(self, parent: str) -> tuple[str, list[tuple[str, str]]]:
        env_id = names.parse_environment(parent, "parent")
        return env_id, await self.run(lambda: self.registry.list_hybrid_connections(env_id))
