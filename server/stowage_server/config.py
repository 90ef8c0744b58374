"""Server configuration: one home for every setting.

Each option has a flag (``--data-dir``), an environment variable
(``STOWAGE_DATA_DIR``), an optional TOML file key (``data_dir``) and a default
that works on a laptop. Precedence: flag, then variable, then file, then
default; ``Config.sources`` remembers where each value came from.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stowage.v1 import common_pb2

EDITIONS = {
    "developer": common_pb2.EDITION_DEVELOPER,
    "basic": common_pb2.EDITION_BASIC,
    "standard": common_pb2.EDITION_STANDARD,
    "premium": common_pb2.EDITION_PREMIUM,
}
EDITION_NAMES = {v: k for k, v in EDITIONS.items()}


class ConfigError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """'90s', '5m', '2h', '1d', '1h30m' or plain seconds, to seconds."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"invalid duration {text!r}: use s, m, h or d, as in 90s, 5m, 2h, 1d")
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * scale[u] for n, u in parts)


def parse_size(text: str) -> int:
    """'512', '64KiB', '200MB', '1GiB' to bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]i?B?|B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ConfigError(f"invalid size {text!r}: use bytes or KiB, MiB, GiB")
    unit = (m.group(2) or "B").upper().rstrip("B").rstrip("I")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
    return int(m.group(1)) * scale


def parse_editions(text: str) -> frozenset[int]:
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in EDITIONS]
    if unknown:
        raise ConfigError(f"unknown edition(s) {', '.join(unknown)}; use {', '.join(EDITIONS)}")
    return frozenset(EDITIONS[n] for n in names)


def _sidecar_address(text: str) -> str:
    text = str(text).strip()
    if text and not text.startswith(("grpc+unix:", "grpc://")):
        raise ConfigError(
            f"invalid storage address {text!r}: use grpc+unix:PATH or grpc://HOST:PORT"
        )
    return text


def parse_log_format(text: str) -> str:
    value = str(text).strip().lower()
    if value not in ("text", "json"):
        raise ConfigError(f"invalid log format {text!r}: use text or json")
    return value


def parse_count(text: str) -> int:
    """A whole number of at least 1."""
    value = str(text).strip()
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"invalid count {text!r}: a whole number of at least 1")
    return int(value)


def parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"invalid boolean {text!r}")


@dataclass(frozen=True)
class Option:
    name: str
    default: str
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False
    # A switch: the flag takes no value (`--insecure`); variables and files say true or false.
    switch: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "STOWAGE_" + self.name.upper()


DEFAULT_DATA_DIR = os.path.join("~", ".local", "share", "stowage")

OPTIONS: list[Option] = [
    Option("listen", "127.0.0.1:50051", "gRPC address to listen on (host:port; port 0 picks one)"),
    Option("data_dir", DEFAULT_DATA_DIR, "folder for the registry, content, key file and logs"),
    Option(
        "repository",
        "",
        "where backups are stored: a path or file:// URL (default: DATA_DIR/repository)",
    ),
    Option(
        "storage",
        "",
        "keep the repository through the storage sidecar instead: grpc+unix:PATH or "
        "grpc://HOST:PORT (the sidecar holds the repository URL and its credentials)",
        _sidecar_address,
    ),
    Option("key", "", "master key (64 hex digits or base64 of 32 bytes)", secret=True),
    Option(
        "key_file",
        "",
        "file holding the master key; created with mode 0600 when missing "
        "(default: DATA_DIR/stowage.key)",
    ),
    Option(
        "name_release_period",
        "1h",
        "how long a deleted environment's name stays reserved",
        parse_duration,
    ),
    Option(
        "backup_editions",
        "basic,standard,premium",
        "editions that may be backed up and restored",
        parse_editions,
    ),
    Option("workers", "4", "threads for hashing, compression and disk I/O", int),
    Option("max_artifact_size", "1GiB", "largest artifact accepted", parse_size),
    Option(
        "upload_grace",
        "24h",
        "how long content uploaded with BlobService.WriteBlob waits for a PutArtifact",
        parse_duration,
    ),
    Option(
        "sweep_interval",
        "10m",
        "how often unreferenced artifact content is deleted from DATA_DIR",
        parse_duration,
    ),
    Option(
        "copy_destinations",
        "abfs://",
        "repositories `backup copy` may write to: comma-separated URL prefixes "
        "(abfs:// allows every Azure container; add file:///mnt/backups for a folder)",
        lambda text: [p.strip() for p in str(text).split(",") if p.strip()],
    ),
    Option(
        "storage_retry_budget",
        "30s",
        "how long a storage call keeps retrying transient failures before it fails UNAVAILABLE",
        parse_duration,
    ),
    Option(
        "upload_limit",
        "0",
        "most bytes per second a backup sends to the repository (0: no limit), as in 20MiB",
        parse_size,
    ),
    Option(
        "min_schedule_interval",
        "5m",
        "shortest time between two scheduled backups that a backup policy may ask for",
        parse_duration,
    ),
    Option(
        "max_concurrent_backups",
        "2",
        "scheduled backups this server runs at once; due ones queue for a place",
        parse_count,
    ),
    Option("log_level", "info", "debug, info, warning or error"),
    Option(
        "log_format",
        "text",
        "text (human-readable) or json (one JSON object per line)",
        parse_log_format,
    ),
    Option(
        "metrics_listen",
        "",
        "address (host:port; port 0 picks one) of the Prometheus metrics listener "
        "(default: none, no listener)",
    ),
    Option(
        "shutdown_grace",
        "30s",
        "on SIGTERM, how long running backups and restores may finish before they are stopped",
        parse_duration,
    ),
    Option("tls_cert", "", "PEM certificate (chain) the server presents; TLS is on with it"),
    Option("tls_key", "", "PEM private key of --tls-cert"),
    Option(
        "tls_client_ca",
        "",
        "PEM CA bundle of client certificates: with it, clients must present one it "
        "signed (mutual TLS)",
    ),
    Option(
        "tokens_file",
        "",
        "file of hashed bearer tokens with their roles (`stowage token create`); with it every "
        "call but health checks needs a token (default: none, and the server keeps to loopback)",
    ),
    Option(
        "insecure",
        "false",
        "allow listening beyond loopback without TLS and tokens",
        parse_bool,
        switch=True,
    ),
    Option(
        "encrypt_all",
        "false",
        "encrypt all repository content (blobs, indexes, manifests, records) with a content "
        "key wrapped by the master key, not only secrets; once on, a repository stays encrypted",
        parse_bool,
        switch=True,
    ),
    Option(
        "audit_log",
        "",
        "append-only JSON-lines log of backups, restores, deletes, prunes, key rotations "
        "and secret reads (default: DATA_DIR/audit.log)",
    ),
    Option(
        "max_message_size",
        "8MiB",
        "largest request message accepted (at least 2MiB: clients send 1 MiB pieces)",
        parse_size,
    ),
    Option(
        "max_stream_size",
        "4GiB",
        "most bytes one client stream (PutArtifact, ImportArtifacts, WriteBlob) may send",
        parse_size,
    ),
    Option(
        "max_concurrent_streams",
        "64",
        "most calls one caller (token, or client address without tokens) may have running at once",
        int,
    ),
]
OPTIONS_BY_NAME = {o.name: o for o in OPTIONS}


@dataclass
class Config:
    values: dict[str, Any]
    sources: dict[str, str]
    raw: dict[str, str]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def data_path(self) -> str:
        return os.path.abspath(os.path.expanduser(self.values["data_dir"]))

    @property
    def repository_url(self) -> str:
        """Where the repository is reached: the sidecar when one is named."""
        return (
            self.values["storage"]
            or self.values["repository"]
            or os.path.join(self.data_path, "repository")
        )

    @property
    def key_path(self) -> str:
        return os.path.abspath(
            os.path.expanduser(
                self.values["key_file"] or os.path.join(self.data_path, "stowage.key")
            )
        )

    @property
    def audit_path(self) -> str:
        return os.path.abspath(
            os.path.expanduser(
                self.values["audit_log"] or os.path.join(self.data_path, "audit.log")
            )
        )

    def shown(self) -> list[tuple[str, str, str]]:
        """(name, value, source) for each option, secrets masked."""
        out = []
        for o in OPTIONS:
            raw = self.raw[o.name]
            value = ("*" * 8 if raw else "") if o.secret else raw
            out.append((o.name, value, self.sources[o.name]))
        return out


def load(
    flags: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Config:
    """Resolves every option. ``flags`` maps option names to flag values (None: not given)."""
    flags = flags or {}
    environ = os.environ if environ is None else environ
    file_values: dict[str, Any] = {}
    if config_file:
        try:
            with open(config_file, "rb") as f:
                file_values = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"cannot read config file {config_file}: {e.strerror}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {config_file}: {e}") from e
        unknown = sorted(set(file_values) - set(OPTIONS_BY_NAME))
        if unknown:
            raise ConfigError(f"config file {config_file}: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    raw: dict[str, str] = {}
    sources: dict[str, str] = {}
    for o in OPTIONS:
        if flags.get(o.name) is not None:
            text, source = str(flags[o.name]), "flag"
        elif o.env in environ:
            text, source = environ[o.env], "variable"
        elif o.name in file_values:
            text, source = str(file_values[o.name]), "file"
        else:
            text, source = o.default, "default"
        try:
            values[o.name] = o.parse(text)
        except (ValueError, ConfigError) as e:
            where = {"flag": o.flag, "variable": o.env, "file": config_file, "default": "default"}
            raise ConfigError(f"{where[source]}: {e}") from e
        raw[o.name] = text
        sources[o.name] = source
    if values["max_message_size"] < 2 * 1024 * 1024:
        raise ConfigError("--max-message-size: at least 2MiB (clients send 1 MiB pieces)")
    if values["max_concurrent_streams"] < 1:
        raise ConfigError("--max-concurrent-streams: at least 1")
    if bool(values["tls_cert"]) != bool(values["tls_key"]):
        raise ConfigError("--tls-cert and --tls-key go together")
    if values["tls_client_ca"] and not values["tls_cert"]:
        raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)")
    return Config(values, sources, raw)
