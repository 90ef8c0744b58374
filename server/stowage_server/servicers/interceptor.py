"""The one server interceptor: binds each request's gRPC method to the log
context, counts requests and their latency by method and status code, and
answers requests that do not parse INVALID_ARGUMENT (see malformed.py)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from .. import logs
from ..metrics import Metrics
from . import malformed

log = logging.getLogger("stowage.rpc")
Behavior = Callable[..., Any]


def status_name(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return "CANCELLED"  # the client went away or its deadline passed
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name  # set by abort() or set_code()
    if error is not None and not isinstance(error, grpc.aio.AbortError):
        return "UNKNOWN"  # what grpc answers for an exception that escaped the handler
    return "OK"


class RequestInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            # Unknown method: gRPC answers UNIMPLEMENTED. Not counted, so no
            # client can grow the method label's values.
            return handler
        method = handler_call_details.method.lstrip("/")
        parse = malformed.tolerant(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap(method, malformed.checked(handler.unary_unary, False)),
                parse,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap(method, malformed.checked(handler.unary_stream, False)),
                parse,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap(method, malformed.checked(handler.stream_unary, True)),
                parse,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap(method, malformed.checked(handler.stream_stream, True)),
            parse,
            handler.response_serializer,
        )

    def _finished(
        self,
        method: str,
        context: grpc.aio.ServicerContext,
        started: float,
        error: BaseException | None,
    ) -> None:
        code = status_name(context, error)
        seconds = round(time.perf_counter() - started, 6)
        self.metrics.rpc_finished(method, code, seconds)
        log.debug(
            "%s %s", method, code, extra={"fields": {"code": code, "duration_seconds": seconds}}
        )

    def _wrap(self, method: str, behavior: Behavior) -> Behavior:
        # Response streams are async generators, or coroutines that write to the context.
        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                logs.bind(method=method)
                started, error = time.perf_counter(), None
                try:
                    async for response in behavior(request, context):
                        yield response
                except BaseException as e:
                    error = e
                    raise
                finally:
                    self._finished(method, context, started, error)

            return stream

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            logs.bind(method=method)
            started, error = time.perf_counter(), None
            try:
                return await behavior(request, context)
            except BaseException as e:
                error = e
                raise
            finally:
                self._finished(method, context, started, error)

        return call
