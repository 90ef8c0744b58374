"""Rebuilding a gRPC method handler around a new behavior, whatever its shape.

Interceptors that check something per call (auth, limits, metrics) wrap the
behavior of the handler grpc found, and hand back a handler of the same kind
(unary or streaming request and response) with the same (de)serializers.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

Behavior = Callable[..., Any]
Deserializer = Callable[[bytes], Any] | None


def kind(handler: grpc.RpcMethodHandler) -> str:
    """'unary_unary', 'unary_stream', 'stream_unary' or 'stream_stream'."""
    for name in ("unary_unary", "unary_stream", "stream_unary"):
        if getattr(handler, name):
            return name
    return "stream_stream"


def behavior(handler: grpc.RpcMethodHandler) -> Behavior:
    return getattr(handler, kind(handler))  # type: ignore[no-any-return]


def rebuild(
    handler: grpc.RpcMethodHandler,
    new_behavior: Behavior,
    request_deserializer: Deserializer = None,
) -> grpc.RpcMethodHandler:
    make = {
        "unary_unary": grpc.unary_unary_rpc_method_handler,
        "unary_stream": grpc.unary_stream_rpc_method_handler,
        "stream_unary": grpc.stream_unary_rpc_method_handler,
        "stream_stream": grpc.stream_stream_rpc_method_handler,
    }[kind(handler)]
    return make(
        new_behavior,
        request_deserializer or handler.request_deserializer,
        handler.response_serializer,
    )


class Call:
    """What a guard sees of one call: the request (or request iterator, which
    it may replace), the context, and the response of a unary call."""

    def __init__(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        self.request = request
        self.context = context
        self.response: Any = None


Guard = Callable[[Call], contextlib.AbstractAsyncContextManager[Call]]


def guarded(original: Behavior, guard: Guard) -> Behavior:
    """``original`` run inside ``guard``: the guard may abort before it, replace
    the request, and see how it ended (its exception, or ``call.response``)."""
    if inspect.isasyncgenfunction(original):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with guard(Call(request, context)) as call:
                async for response in original(call.request, context):
                    yield response

        return stream

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with guard(Call(request, context)) as call:
            call.response = await original(call.request, context)
            return call.response

    return unary
