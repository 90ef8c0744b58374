"""Error mapping for servicer methods: a domain error becomes its one status
code with google.rpc details; anything else is logged and becomes INTERNAL
without leaking internals to the client."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_status import rpc_status

from ..errors import StowageError, known_failure
from ..status import internal_status, to_status

log = logging.getLogger("stowage.rpc")
R = TypeVar("R")


async def abort(context: grpc.aio.ServicerContext, err: StowageError) -> None:
    await context.abort_with_status(rpc_status.to_status(to_status(err)))


async def _abort_unexpected(
    context: grpc.aio.ServicerContext, method: str, error: Exception
) -> None:
    """A failure the engine did not translate: storage, repository and a full
    data directory still get their own status; anything else is a bug."""
    known = known_failure(error)
    if known is not None:
        log.warning("%s failed: %s", method, known.message)
        await abort(context, known)
    log.exception("unexpected error in %s", method)
    await context.abort_with_status(rpc_status.to_status(internal_status()))


def unary(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await fn(self, request, context)
        except StowageError as e:
            await abort(context, e)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as e:
            await _abort_unexpected(context, fn.__name__, e)
        raise AssertionError("unreachable")

    return wrapper


def streaming(fn: Callable[..., AsyncIterator[R]]) -> Callable[..., AsyncIterator[R]]:
    @functools.wraps(fn)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[R]:
        try:
            async for item in fn(self, request, context):
                yield item
        except StowageError as e:
            await abort(context, e)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as e:
            await _abort_unexpected(context, fn.__name__, e)

    return wrapper
