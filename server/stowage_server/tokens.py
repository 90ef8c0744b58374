"""Bearer tokens and the tokens file.

A token is ``stw_`` and 43 characters of URL-safe base64: 256 random bits, so
its SHA-256 is as good as a password hash (nothing to guess, nothing to brute
force) and lets the server check one with a dictionary lookup. The file keeps
only those digests, with each token's name and role; the token itself is
printed once, when created, and never stored.

The file is JSON, written whole to a temporary file, fsync'd and renamed over
the old one (mode 0600, ``private_file``), so a reader sees the old or the new
list, never half.
The server reloads it when it changes: a revoked token stops working at its
next call, without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from . import private_file
from .roles import Role

log = logging.getLogger("stowage.auth")
PREFIX = "stw_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
FORMAT = 1


class TokensError(ValueError):
    """The tokens file is missing, unreadable or malformed, or a change to it
    is refused; the message says which and why."""


@dataclass(frozen=True)
class TokenEntry:
    name: str
    role: Role
    sha256: str
    create_time: str


@dataclass(frozen=True)
class Caller:
    """Who is calling: a token's name and role."""

    name: str
    role: Role


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise TokensError(
            f"invalid token name {name!r}: 1 to 64 letters, digits, '.', '_', '@' and '-'"
        )
    return name


def read(path: str) -> list[TokenEntry]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise TokensError(
            f"tokens file {path} does not exist; create a token with "
            "`stowage token create --tokens-file FILE --role ROLE --name WHO`"
        ) from None
    except (OSError, ValueError) as e:
        raise TokensError(f"tokens file {path} is unreadable: {e}") from None
    try:
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT}")
        entries = [
            TokenEntry(
                check_name(t["name"]), Role.parse(t["role"]), str(t["sha256"]), str(t["created"])
            )
            for t in doc["tokens"]
        ]
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise TokensError(f"tokens file {path} is malformed: {e}") from None
    for e in entries:
        if not re.fullmatch(r"[0-9a-f]{64}", e.sha256):
            raise TokensError(f"tokens file {path}: token {e.name} has no valid sha256")
    return entries


def write(path: str, entries: list[TokenEntry]) -> None:
    doc = {
        "format": FORMAT,
        "tokens": [
            {"name": e.name, "role": e.role.word, "sha256": e.sha256, "created": e.create_time}
            for e in entries
        ],
    }
    private_file.write(path, (json.dumps(doc, indent=2) + "\n").encode())


def create(path: str, name: str, role: Role) -> str:
    """Adds a token; returns it (the only time it is ever seen)."""
    check_name(name)
    entries = read(path) if os.path.exists(path) else []
    if any(e.name == name for e in entries):
        raise TokensError(f"a token named {name} exists; revoke it first")
    token = new_token()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write(path, [*entries, TokenEntry(name, role, digest(token), now)])
    return token


def revoke(path: str, name: str) -> None:
    entries = read(path)
    kept = [e for e in entries if e.name != name]
    if len(kept) == len(entries):
        raise TokensError(f"no token named {name} in {path}")
    write(path, kept)


class TokenFile:
    """The server's view of the tokens file, reloaded when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._by_digest: dict[str, TokenEntry] = {}
        self.reload()

    def _current_stamp(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def reload(self) -> None:
        with self._lock:
            stamp = self._current_stamp()
            entries = read(self.path)
            self._by_digest = {e.sha256: e for e in entries}
            self._stamp = stamp

    def _fresh(self) -> None:
        # One stat per call: cheaper than a thread hop, and a revoke (a rename
        # over the file) takes effect at once. A file that vanished or broke
        # fails closed: no token is accepted until it is readable again.
        try:
            if self._current_stamp() != self._stamp:
                self.reload()
        except (OSError, TokensError) as e:
            if self._by_digest:
                log.error("tokens file: %s; refusing every token until it is fixed", e)
            with self._lock:
                self._by_digest = {}
                self._stamp = None

    def verify(self, token: str) -> Caller | None:
        """The caller a token belongs to, or None."""
        self._fresh()
        wanted = digest(token)
        entry = self._by_digest.get(wanted)
        if entry is None or not hmac.compare_digest(entry.sha256, wanted):
            return None
        return Caller(entry.name, entry.role)
