"""Environment settings: validation, merging, and sealing of secrets at rest.

In the registry every secret is sealed with AES-256-GCM under the registry key
(derived from the master key); the associated data binds it to its environment
uid and field, so a sealed value copied elsewhere does not open.
"""

from __future__ import annotations

from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb
from stowage_storage.crypto import (
    NONCE_BYTES,
    DecryptionFailed,
    MasterKey,
    Sealed,
    fingerprint,
    seal,
    unseal,
)
from stowage_storage.keyring import KeyRing

from .errors import Collected

SECRET_FIELDS = (
    "access_control_key",
    "tracking_database_connection_string",
    "archive_storage_connection_string",
    "monitoring_storage_connection_string",
    "ssl_certificate",
    "ssl_certificate_password",
)
PLAIN_FIELDS = ("scale_units", "product_version", "access_control_namespace")
ALL_FIELDS = PLAIN_FIELDS + SECRET_FIELDS
MAX_SECRET_BYTES = 1 << 20
MAX_SCALE_UNITS = 64


class SecretBox:
    """Seals and opens secrets for the registry; computes their fingerprints.

    Seals with the current key of the ring; opens with any key it holds, so
    during a key rotation values sealed before it still open until the
    rotation seals them again (``Registry.reseal``)."""

    def __init__(self, keys: KeyRing | MasterKey) -> None:
        self._keys = KeyRing.of(keys)

    def seal(self, value: bytes, aad: bytes) -> bytes:
        s = seal(self._keys.current.derive("registry-secrets"), value, aad)
        return s.nonce + s.ciphertext

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        box = Sealed(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:])
        *others, last = self._keys.all()
        for key in others:
            try:
                return unseal(key.derive("registry-secrets"), box, aad)
            except DecryptionFailed:
                continue
        return unseal(last.derive("registry-secrets"), box, aad)

    def fingerprint(self, value: bytes) -> str:
        return fingerprint(self._keys.current.derive("fingerprint"), value)


def validate(settings: env_pb.EnvironmentSettings, prefix: str, errors: Collected) -> None:
    if not 0 <= settings.scale_units <= MAX_SCALE_UNITS:
        errors.add(f"{prefix}.scale_units", f"must be 1 to {MAX_SCALE_UNITS}")
    if len(settings.product_version) > 64 or not settings.product_version.isprintable():
        errors.add(f"{prefix}.product_version", "at most 64 printable characters")
    if (
        len(settings.access_control_namespace) > 256
        or not settings.access_control_namespace.isprintable()
    ):
        errors.add(f"{prefix}.access_control_namespace", "at most 256 printable characters")
    for name in SECRET_FIELDS:
        if settings.HasField(name) and len(getattr(settings, name).value) > MAX_SECRET_BYTES:
            errors.add(f"{prefix}.{name}", "at most 1 MiB")


def overlay(
    base: env_pb.EnvironmentSettings, top: env_pb.EnvironmentSettings
) -> env_pb.EnvironmentSettings:
    """``base`` with every field that ``top`` sets (non-zero, non-empty, present secret)."""
    out = env_pb.EnvironmentSettings()
    out.CopyFrom(base)
    if top.scale_units:
        out.scale_units = top.scale_units
    if top.product_version:
        out.product_version = top.product_version
    if top.access_control_namespace:
        out.access_control_namespace = top.access_control_namespace
    for name in SECRET_FIELDS:
        if top.HasField(name):
            getattr(out, name).CopyFrom(common_pb2.Secret(value=getattr(top, name).value))
    return out


def apply_mask(
    base: env_pb.EnvironmentSettings, new: env_pb.EnvironmentSettings, fields: set[str]
) -> env_pb.EnvironmentSettings:
    """``base`` with the named fields taken from ``new`` (cleared when ``new`` lacks them)."""
    out = env_pb.EnvironmentSettings()
    out.CopyFrom(base)
    for name in fields:
        if name in SECRET_FIELDS:
            out.ClearField(name)
            if new.HasField(name) and getattr(new, name).value:
                getattr(out, name).CopyFrom(common_pb2.Secret(value=getattr(new, name).value))
        else:
            setattr(out, name, getattr(new, name))
    return out


def seal_all(box: SecretBox, uid: str, plain: env_pb.EnvironmentSettings) -> bytes:
    """The stored form: secret values sealed, fingerprints kept beside them."""
    stored = env_pb.EnvironmentSettings()
    stored.CopyFrom(plain)
    for name in SECRET_FIELDS:
        if plain.HasField(name) and getattr(plain, name).value:
            value = getattr(plain, name).value
            getattr(stored, name).CopyFrom(
                common_pb2.Secret(
                    value=box.seal(value, _aad(uid, name)),
                    set=True,
                    fingerprint=box.fingerprint(value),
                )
            )
        else:
            stored.ClearField(name)
    return stored.SerializeToString()


def open_all(box: SecretBox, uid: str, stored: bytes, reveal: bool) -> env_pb.EnvironmentSettings:
    """The API form; secret values only when ``reveal``."""
    out = env_pb.EnvironmentSettings.FromString(stored)
    for name in SECRET_FIELDS:
        if out.HasField(name):
            secret = getattr(out, name)
            secret.value = box.open(secret.value, _aad(uid, name)) if reveal else b""
    return out


def _aad(uid: str, field: str) -> bytes:
    return f"environment/{uid}/{field}".encode()
