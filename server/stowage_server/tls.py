"""The server's TLS credentials: its certificate and key, and with a client CA,
mutual TLS (a client must present a certificate that CA signed)."""

from __future__ import annotations

import grpc

from .config import Config


class TlsError(ValueError):
    """A certificate or key file cannot be used; the message names it."""


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TlsError(f"cannot read the {what} {path}: {e.strerror}") from None
    if b"-----BEGIN " not in data:
        raise TlsError(f"the {what} {path} is not PEM")
    return data


def server_credentials(config: Config) -> grpc.ServerCredentials | None:
    """None when TLS is off (no --tls-cert)."""
    if not config.tls_cert:
        return None
    cert = _read(config.tls_cert, "TLS certificate (--tls-cert)")
    key = _read(config.tls_key, "TLS key (--tls-key)")
    client_ca = (
        _read(config.tls_client_ca, "client CA bundle (--tls-client-ca)")
        if config.tls_client_ca
        else None
    )
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
