"""How a client proves who it is and checks whom it talks to.

TLS: a CA bundle to check the server's certificate (the system's roots when
none is given), and optionally a client certificate and key for servers that
ask for one (mutual TLS). Each is a PEM file path or the PEM bytes.

The bearer token travels as ``authorization: Bearer <token>`` metadata on every
call. It is added by a client interceptor rather than gRPC call credentials,
because gRPC sends call credentials over TLS only, and a server on loopback may
take tokens without TLS.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from typing import Any, NamedTuple

import grpc

Pem = str | os.PathLike[str] | bytes


def _pem(value: Pem | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()


def channel_credentials(
    tls_ca: Pem | None = None, tls_cert: Pem | None = None, tls_key: Pem | None = None
) -> grpc.ChannelCredentials:
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("a client certificate needs its key, and a key its certificate")
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(tls_ca), private_key=_pem(tls_key), certificate_chain=_pem(tls_cert)
    )


def token_metadata(token: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {token}")


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _SyncDetails(_Details, grpc.ClientCallDetails):
    pass


def _with_token(details: grpc.ClientCallDetails, token: str) -> grpc.ClientCallDetails:
    metadata = [*(details.metadata or ()), token_metadata(token)]
    return _SyncDetails(
        details.method,
        details.timeout,
        metadata,
        details.credentials,
        details.wait_for_ready,
        details.compression,
    )


class TokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the bearer token to every call of a synchronous channel."""

    def __init__(self, token: str) -> None:
        self._token = token

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(_with_token(details, self._token), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(_with_token(details, self._token), request)

    def intercept_stream_unary(
        self, continuation: Any, details: Any, request_iterator: Iterator[Any]
    ) -> Any:
        return continuation(_with_token(details, self._token), request_iterator)

    def intercept_stream_stream(
        self, continuation: Any, details: Any, request_iterator: Iterator[Any]
    ) -> Any:
        return continuation(_with_token(details, self._token), request_iterator)


def _aio_with_token(details: grpc.aio.ClientCallDetails, token: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    metadata.add(*token_metadata(token))
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _AioUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_aio_with_token(details, self._token), request)


class _AioUnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_aio_with_token(details, self._token), request)


class _AioStreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_stream_unary(
        self,
        continuation: Callable[..., Any],
        details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Any] | Iterable[Any],
    ) -> Any:
        return await continuation(_aio_with_token(details, self._token), request_iterator)


class _AioStreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Any] | Iterable[Any],
    ) -> Any:
        return await continuation(_aio_with_token(details, self._token), request_iterator)


def aio_token_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    """The bearer token on every call of a grpc.aio channel (one interceptor per call shape)."""
    return [
        _AioUnaryUnary(token),
        _AioUnaryStream(token),
        _AioStreamUnary(token),
        _AioStreamStream(token),
    ]


def sync_channel(
    target: str,
    options: list[tuple[str, Any]],
    *,
    token: str | None = None,
    tls: bool = False,
    tls_ca: Pem | None = None,
    tls_cert: Pem | None = None,
    tls_key: Pem | None = None,
) -> grpc.Channel:
    """A channel with TLS when any TLS setting is given, and the token on every call."""
    if tls or tls_ca is not None or tls_cert is not None or tls_key is not None:
        creds = channel_credentials(tls_ca, tls_cert, tls_key)
        channel = grpc.secure_channel(target, creds, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    if token:
        channel = grpc.intercept_channel(channel, TokenInterceptor(token))
    return channel


def aio_channel(
    target: str,
    options: list[tuple[str, Any]],
    *,
    token: str | None = None,
    tls: bool = False,
    tls_ca: Pem | None = None,
    tls_cert: Pem | None = None,
    tls_key: Pem | None = None,
) -> grpc.aio.Channel:
    interceptors = aio_token_interceptors(token) if token else None
    if tls or tls_ca is not None or tls_cert is not None or tls_key is not None:
        creds = channel_credentials(tls_ca, tls_cert, tls_key)
        return grpc.aio.secure_channel(target, creds, options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
