"""The ``--set KEY=VALUE`` keys and how they map to EnvironmentSettings fields.

Keys are spelled with hyphens on the command line; each names one field of
``stowage.v1.EnvironmentSettings``. Secret fields take UTF-8 text, except the
SSL certificate, which is given as a file path whose bytes become the secret.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb

from .output import CommandError, secret_text


@dataclass(frozen=True)
class Setting:
    key: str  # as typed after --set
    field: str  # the EnvironmentSettings field
    kind: str  # "int", "text", "secret" or "secret-file"
    label: str  # as shown in listings

    @property
    def secret(self) -> bool:
        return self.kind.startswith("secret")


SETTINGS = [
    Setting("scale-units", "scale_units", "int", "scale-units"),
    Setting("product-version", "product_version", "text", "product-version"),
    Setting(
        "access-control-namespace", "access_control_namespace", "text", "access-control-namespace"
    ),
    Setting("access-control-key", "access_control_key", "secret", "access-control-key"),
    Setting(
        "tracking-db-connection-string",
        "tracking_database_connection_string",
        "secret",
        "tracking-db-connection-string",
    ),
    Setting(
        "archive-storage-connection-string",
        "archive_storage_connection_string",
        "secret",
        "archive-storage-connection-string",
    ),
    Setting(
        "monitoring-storage-connection-string",
        "monitoring_storage_connection_string",
        "secret",
        "monitoring-storage-connection-string",
    ),
    Setting("ssl-certificate-file", "ssl_certificate", "secret-file", "ssl-certificate"),
    Setting(
        "ssl-certificate-password", "ssl_certificate_password", "secret", "ssl-certificate-password"
    ),
]
SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


def parse_pairs(values: Iterable[str] | None, flag: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings as pairs, in order; the value may contain '='."""
    pairs = []
    for text in values or ():
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise CommandError(f"{flag} {text!r}: expected KEY=VALUE")
        pairs.append((key.strip(), value))
    return pairs


def build_settings(values: Iterable[str] | None) -> tuple[env_pb.EnvironmentSettings, list[str]]:
    """The settings message for ``--set`` values and the field names they set."""
    settings = env_pb.EnvironmentSettings()
    fields: list[str] = []
    for key, value in parse_pairs(values, "--set"):
        setting = SETTINGS_BY_KEY.get(key)
        if setting is None:
            raise CommandError(
                f"--set: unknown setting {key!r}; valid keys: {', '.join(SETTINGS_BY_KEY)}"
            )
        if setting.kind == "int":
            try:
                setattr(settings, setting.field, int(value))
            except ValueError:
                raise CommandError(f"--set {key}: {value!r} is not a whole number") from None
        elif setting.kind == "text":
            setattr(settings, setting.field, value)
        else:
            # An empty value is a present but empty secret: on update it clears the field.
            data = (
                read_secret_file(key, value)
                if setting.kind == "secret-file" and value
                else value.encode()
            )
            getattr(settings, setting.field).CopyFrom(common_pb2.Secret(value=data))
        if setting.field not in fields:
            fields.append(setting.field)
    return settings, fields


def read_secret_file(key: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CommandError(f"--set {key}: cannot read {path}: {e.strerror}") from None


def setting_rows(
    settings: env_pb.EnvironmentSettings, *, reveal: bool = False
) -> list[tuple[str, str]]:
    """(label, shown value) per setting. Secret values appear only when
    ``reveal`` (and the server returned them, i.e. the full view)."""
    rows = []
    for s in SETTINGS:
        value = getattr(settings, s.field)
        if not s.secret:
            rows.append((s.label, str(value) if value else "-"))
        elif reveal and value.value:
            rows.append((s.label, _revealed(value.value, binary=s.kind == "secret-file")))
        else:
            rows.append((s.label, secret_text(value)))
    return rows


def _revealed(value: bytes, *, binary: bool) -> str:
    if not binary:
        try:
            text = value.decode()
            if text.isprintable():
                return text
        except UnicodeDecodeError:
            pass
    return f"base64:{base64.b64encode(value).decode()}"
