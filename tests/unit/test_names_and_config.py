"""Names, configuration and settings: pure rules, no I/O."""

from __future__ import annotations

import pytest

from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb
from stowage_server import names
from stowage_server import settings as settings_mod
from stowage_server.config import ConfigError, load, parse_duration, parse_size
from stowage_server.errors import Collected, InvalidArgument
from stowage_storage.crypto import DecryptionFailed, MasterKey


@pytest.mark.parametrize("good", ["abc", "contoso-prod", "a1-b2-c3", "x" * 63])
def test_good_environment_ids(good: str) -> None:
    assert names.check_environment_id(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ab",
        "x" * 64,
        "1abc",
        "abc-",
        "ab--c",
        "ABC",
        "a_b",
        "a.b",
        "a/b",
        "..",
        "é-env",
        "a\x00b",
    ],
)
def test_bad_environment_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        names.check_environment_id(bad, "environment_id")
    assert err.value.field == "environment_id"


@pytest.mark.parametrize(
    "bad", ["..", ".hidden", "a/b", "a..b", "", "x" * 129, "naïve", "a b", "a\x00"]
)
def test_bad_artifact_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        names.check_artifact_id(bad)


def test_resource_names_round_trip() -> None:
    a = names.parse_artifact("environments/contoso/x12Mappings/ST01-GS01")
    assert (
        a.kind == env_pb.ARTIFACT_KIND_X12_MAPPING
        and str(a) == "environments/contoso/x12Mappings/ST01-GS01"
    )
    b = names.parse_backup("environments/contoso/backups/20261125-131350-a1b2c3")
    assert str(b) == "environments/contoso/backups/20261125-131350-a1b2c3"
    assert names.parse_environment_or_all("environments/-") is None
    with pytest.raises(InvalidArgument):
        names.parse_backup("environments/contoso/backups/../../x")


def test_durations_and_sizes() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2d") == 172800
    assert parse_duration("0") == 0
    with pytest.raises(ConfigError):
        parse_duration("5 minutes")
    assert parse_size("64KiB") == 65536
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("200MB") == 200 << 20


def test_configuration_precedence_and_sources(tmp_path) -> None:
    toml = tmp_path / "stowage.toml"
    toml.write_text('listen = "127.0.0.1:7000"\nworkers = 3\nname_release_period = "2h"\n')
    cfg = load(
        {"listen": "127.0.0.1:9000"}, {"STOWAGE_WORKERS": "6", "STOWAGE_KEY": "k" * 10}, str(toml)
    )
    assert cfg.listen == "127.0.0.1:9000" and cfg.sources["listen"] == "flag"
    assert cfg.workers == 6 and cfg.sources["workers"] == "variable"
    assert cfg.name_release_period == 7200 and cfg.sources["name_release_period"] == "file"
    assert cfg.sources["data_dir"] == "default"
    shown = {name: (value, source) for name, value, source in cfg.shown()}
    assert shown["key"] == ("********", "variable")
    with pytest.raises(ConfigError, match="STOWAGE_WORKERS"):
        load({}, {"STOWAGE_WORKERS": "many"})
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 1\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load({}, {}, str(bad))


def test_sealed_secrets_are_bound_to_their_environment_and_field() -> None:
    box = settings_mod.SecretBox(MasterKey.generate())
    plain = env_pb.EnvironmentSettings(scale_units=2)
    plain.access_control_key.CopyFrom(common_pb2.Secret(value=b"k3y"))
    stored = settings_mod.seal_all(box, "uid-1", plain)
    assert b"k3y" not in stored
    assert (
        settings_mod.open_all(box, "uid-1", stored, reveal=True).access_control_key.value == b"k3y"
    )
    redacted = settings_mod.open_all(box, "uid-1", stored, reveal=False).access_control_key
    assert (
        redacted.value == b"" and redacted.set and redacted.fingerprint == box.fingerprint(b"k3y")
    )
    with pytest.raises(DecryptionFailed):
        settings_mod.open_all(box, "uid-2", stored, reveal=True)


def test_settings_validation_collects_every_problem() -> None:
    errors = Collected()
    s = env_pb.EnvironmentSettings(scale_units=99, product_version="x" * 65)
    settings_mod.validate(s, "settings", errors)
    assert [v.subject for v in errors.violations] == [
        "settings.scale_units",
        "settings.product_version",
    ]
