"""The limits interceptor: message size, bytes per client stream, and calls
running at once per caller. Each answers RESOURCE_EXHAUSTED with reason
LIMIT_EXCEEDED (metadata "limit"), and only that call fails.

Sizes are checked on the raw bytes before a message is decoded: the request
deserializer hands an ``Oversize`` placeholder instead of the message, and the
call is refused when it reaches it. gRPC's own receive limit is set above ours
(``transport_limit``) so that a message a little too large gets this clear
answer rather than gRPC's bare one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

from .. import roles
from ..status import simple_status
from . import handlers
from .auth import ANONYMOUS, CALLER


def transport_limit(max_message: int) -> int:
    return 2 * max_message


@dataclass(frozen=True)
class Oversize:
    """Stands in for a request message that broke a size limit."""

    limit: str
    message: str


class _LimitHit(BaseException):
    # A BaseException so that no servicer's `except Exception` turns it into
    # another error on its way out to the guard that answers for it.
    def __init__(self, oversize: Oversize) -> None:
        super().__init__(oversize.message)
        self.oversize = oversize


async def refuse(context: grpc.aio.ServicerContext, limit: str, message: str) -> None:
    status = simple_status(code_pb2.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED", message)
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    info.metadata["limit"] = limit
    packed = any_pb2.Any()
    packed.Pack(info)
    status.details[0].CopyFrom(packed)
    await context.abort_with_status(rpc_status.to_status(status))


def _peer_host(context: grpc.aio.ServicerContext) -> str:
    peer = context.peer() or "unknown"
    return peer.rsplit(":", 1)[0] if peer.startswith(("ipv4:", "ipv6:")) else peer


class LimitInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, max_message: int, max_stream: int, max_concurrent: int) -> None:
        self.max_message = max_message
        self.max_stream = max_stream
        self.max_concurrent = max_concurrent
        self._running: dict[str, int] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.lstrip("/") in roles.PUBLIC:
            return handler
        stream_request = handlers.kind(handler).startswith("stream_")
        decode = handler.request_deserializer
        received = [0]

        def deserialize(raw: bytes) -> Any:
            received[0] += len(raw)
            if len(raw) > self.max_message:
                return Oversize(
                    "max_message_size",
                    f"a request message of {len(raw)} bytes is over the server's limit of "
                    f"{self.max_message} (--max-message-size)",
                )
            if stream_request and received[0] > self.max_stream:
                return Oversize(
                    "max_stream_size",
                    f"this stream sent more than the server's limit of {self.max_stream} "
                    "bytes (--max-stream-size)",
                )
            return decode(raw) if decode is not None else raw

        guard = self._guard(stream_request)
        return handlers.rebuild(
            handler, handlers.guarded(handlers.behavior(handler), guard), deserialize
        )

    def _guard(self, stream_request: bool) -> handlers.Guard:
        @contextlib.asynccontextmanager
        async def guard(call: handlers.Call) -> AsyncIterator[handlers.Call]:
            caller = CALLER.get()
            # Without tokens every caller is the same anonymous admin: tell them
            # apart by address instead.
            who = (
                caller.name
                if caller is not None and caller is not ANONYMOUS
                else _peer_host(call.context)
            )
            if self._running.get(who, 0) >= self.max_concurrent:
                await refuse(
                    call.context,
                    "max_concurrent_streams",
                    f"{who} has {self.max_concurrent} calls running, the server's limit "
                    "(--max-concurrent-streams); let one finish first",
                )
            if isinstance(call.request, Oversize):
                await refuse(call.context, call.request.limit, call.request.message)
            if stream_request:
                call.request = _checked(call.request)
            self._running[who] = self._running.get(who, 0) + 1
            try:
                yield call
            except _LimitHit as hit:
                await refuse(call.context, hit.oversize.limit, hit.oversize.message)
            finally:
                left = self._running[who] - 1
                if left:
                    self._running[who] = left
                else:
                    del self._running[who]

        return guard


async def _checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Oversize):
            raise _LimitHit(request)
        yield request
