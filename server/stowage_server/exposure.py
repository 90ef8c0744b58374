"""Safe defaults for where the server listens.

Without tokens anyone who reaches the port may do anything, and without TLS
tokens and secrets cross the network readable. So the server listens beyond
loopback (or a Unix socket) only with both TLS and a tokens file, unless the
operator says ``--insecure`` and owns the consequences.
"""

from __future__ import annotations

import ipaddress


def listen_host(listen: str) -> str:
    """The host part of a gRPC listen address ('' for all interfaces)."""
    if listen.startswith("unix:") or listen.startswith("unix-abstract:"):
        return "unix"
    host, _, _ = listen.rpartition(":")
    return host.strip("[]")


def is_local(listen: str) -> bool:
    host = listen_host(listen)
    if host in ("unix", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name or all interfaces: reachable from elsewhere


def missing(tls: bool, tokens: bool) -> str:
    """What protection is off, in words ('' when none)."""
    return " and ".join(
        what
        for what, present in (
            ("TLS (--tls-cert, --tls-key)", tls),
            ("bearer tokens (--tokens-file)", tokens),
        )
        if not present
    )


def refusal(listen: str, tls: bool, tokens: bool, insecure: bool) -> str | None:
    """Why the server must not listen on ``listen`` as configured, or None."""
    if insecure or is_local(listen) or (tls and tokens):
        return None
    return (
        f"refusing to listen on {listen}: it is reachable from other machines, and without "
        f"{missing(tls, tokens)} anyone who reaches it could read every secret and delete "
        "every backup. Configure them, listen on a loopback address (127.0.0.1:PORT), or pass "
        "--insecure to accept the risk"
    )
