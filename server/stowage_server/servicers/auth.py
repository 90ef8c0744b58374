"""The auth interceptor: who is calling, may they, and the audit line.

With a tokens file, every call but health checks must carry
``authorization: Bearer <token>`` naming a token of the file (UNAUTHENTICATED
otherwise), and the caller's role must reach the role ``roles.RULES`` asks for
the method and request (PERMISSION_DENIED otherwise; a method with no row is
denied to everyone). Without a tokens file the server listens on loopback only
(see ``exposure``) and every caller is an anonymous admin; the table still
applies to methods it does not know.

Calls the table marks as audited get one audit line, allowed or denied (a
caller without a valid token gets none: anyone could fill the disk with them).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from .. import logs, roles
from ..audit import AuditLog
from ..status import simple_status
from ..tokens import Caller, TokenFile
from . import handlers
from .interceptor import status_name

ANONYMOUS = Caller("anonymous", roles.ADMIN)
# The caller of the current request, for code that needs it (limits, logs).
CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "stowage_caller", default=None
)
MAX_RESOURCE = 256


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    values = [v for k, v in metadata or () if k.lower() == "authorization"]
    if len(values) != 1 or not isinstance(values[0], str):
        return None
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def resource(method: str, request: Any) -> str:
    """What an audited call acts on, from its request (cut to a sane length)."""
    if method.startswith("stowage.v1.RepositoryService/"):
        return "repository"
    parts = []
    for field in ("name", "backup", "parent"):
        value = getattr(request, field, "")
        if value:
            parts.append(str(value))
            break
    target = getattr(request, "environment_id", "")
    if target and method.endswith("/RestoreBackup"):
        parts.append(f"to environments/{target}")
    destination = getattr(request, "destination_repository", "")
    if destination:
        parts.append(f"to {destination}")
    return " ".join(parts)[:MAX_RESOURCE]


async def _abort(context: grpc.aio.ServicerContext, code: int, reason: str, message: str) -> None:
    await context.abort_with_status(rpc_status.to_status(simple_status(code, reason, message)))


def _refusal(code: int, reason: str, message: str) -> grpc.RpcMethodHandler:
    """A handler of any request shape that answers at once with an error."""

    async def refuse(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await _abort(context, code, reason, message)

    return grpc.stream_stream_rpc_method_handler(refuse)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: TokenFile | None, audit: AuditLog | None) -> None:
        self.tokens = tokens
        self.audit = audit

    def _caller(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Caller | None:
        if self.tokens is None:
            return ANONYMOUS
        token = bearer_token(metadata)
        return None if token is None else self.tokens.verify(token)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method.lstrip("/")
        if method in roles.PUBLIC:
            return handler
        caller = self._caller(details.invocation_metadata)
        if caller is None:
            has_token = bearer_token(details.invocation_metadata) is not None
            return _refusal(
                code_pb2.UNAUTHENTICATED,
                "UNAUTHENTICATED",
                "the token is not valid (unknown, revoked or mistyped)"
                if has_token
                else "this call needs a bearer token: send 'authorization: Bearer <token>' "
                "(the CLI's --token or STOWAGE_TOKEN)",
            )
        if handler is None:
            return handler  # not served: UNIMPLEMENTED, for an authenticated caller only
        rule = roles.rule(method)
        if rule is None:
            return _refusal(
                code_pb2.PERMISSION_DENIED,
                "PERMISSION_DENIED",
                f"{method} is not open to any role (it has no row in the server's role table)",
            )
        unary_request = handlers.kind(handler).startswith("unary_")
        guard = self._guard(method, rule, caller, unary_request)
        return handlers.rebuild(handler, handlers.guarded(handlers.behavior(handler), guard))

    def _guard(
        self, method: str, rule: roles.Rule, caller: Caller, unary_request: bool
    ) -> handlers.Guard:
        @contextlib.asynccontextmanager
        async def guard(call: handlers.Call) -> AsyncIterator[handlers.Call]:
            CALLER.set(caller)
            logs.bind(caller=caller.name)
            request = call.request if unary_request else None
            audited = self.audit is not None and rule.audits(request)
            required = rule.required(request)
            if caller.role < required:
                message = (
                    f"{method} needs the {required.word} role; {caller.name} has {caller.role.word}"
                )
                if audited:
                    await self._record(call, caller, method, request, "PERMISSION_DENIED")
                await call.context.abort_with_status(
                    rpc_status.to_status(
                        _denied(message, caller.role.word, required.word),
                    )
                )
            error: BaseException | None = None
            try:
                yield call
            except BaseException as e:
                error = e
                raise
            finally:
                if audited:
                    result = status_name(call.context, error)
                    await self._record(call, caller, method, request, result)

        return guard

    async def _record(
        self, call: handlers.Call, caller: Caller, method: str, request: Any, result: str
    ) -> None:
        assert self.audit is not None
        fields: dict[str, Any] = {
            "caller": caller.name,
            "role": caller.role.word,
            "method": method,
            "resource": resource(method, request),
            "result": result,
            "peer": call.context.peer(),
        }
        names = call.context.auth_context().get("x509_common_name")
        if names:
            fields["peer_certificate"] = names[0].decode(errors="replace")
        operation = getattr(call.response, "name", "")
        if isinstance(operation, str) and operation.startswith("operations/"):
            fields["operation"] = operation
        await self.audit.record(**fields)


def _denied(message: str, role: str, required: str) -> status_pb2.Status:
    status = simple_status(code_pb2.PERMISSION_DENIED, "PERMISSION_DENIED", message)
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    info.metadata["role"] = role
    info.metadata["required_role"] = required
    status.details[0].Pack(info)
    return status
