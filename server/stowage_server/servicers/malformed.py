"""Requests whose bytes are not the message their method takes.

grpcio parses a request before any handler runs, and when parsing fails it
answers UNKNOWN with the parser's exception in the message. The interceptor
instead parses with ``tolerant``, which hands a ``Malformed`` marker on, and
``checked`` answers it INVALID_ARGUMENT (ErrorInfo reason INVALID_ARGUMENT,
field ``request``); in a request stream, the servicer reading the stream gets
a MalformedRequest error, which servicers answer INVALID_ARGUMENT too.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from ..errors import InvalidArgument
from ..status import to_status

Behavior = Callable[..., Any]


class Malformed:
    def __init__(self, error: Exception) -> None:
        self.error = error


class MalformedRequest(InvalidArgument, ValueError):
    """A ValueError too, so that BlobService's handlers answer INVALID_ARGUMENT."""

    def __init__(self, error: Exception) -> None:
        super().__init__("request", f"not a valid message for this method ({error})")


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as e:  # DecodeError, or anything else a parser raises
            return Malformed(e)

    return deserialize


async def _each(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Malformed):
            raise MalformedRequest(request.error)
        yield request


async def _refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
    if isinstance(request, Malformed):
        err = MalformedRequest(request.error)
        await context.abort_with_status(rpc_status.to_status(to_status(err)))


def checked(behavior: Behavior, request_stream: bool) -> Behavior:
    """``behavior`` that never sees a Malformed request."""
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if request_stream:
                request = _each(request)
            else:
                await _refuse(request, context)
            async for response in behavior(request, context):
                yield response

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request_stream:
            request = _each(request)
        else:
            await _refuse(request, context)
        return await behavior(request, context)

    return call
