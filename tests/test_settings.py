"""The daemon's settings: reading them writes nothing, the JWT secret is a start-up step, and the
daemon's TOML file (GOPHERPAYD_CONFIG) is not the CLI's (GOPHERPAY_CONFIG)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gopherpay_cli.config import config_path
from gopherpayd.cli import app
from gopherpayd.settings import Settings, ensure_signing_key

OUTSIDE_SETTINGS = [
    "GOPHERPAY_CONFIG",
    "GOPHERPAYD_CONFIG",
    "GOPHERPAY_JWT_SECRET",
    "GOPHERPAY_NOVU_SERVER_URL",
]


@pytest.fixture(autouse=True)
def no_config_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in OUTSIDE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOPHERPAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def test_reading_the_settings_and_the_key_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(environment="test")

    with pytest.raises(RuntimeError) as missing:
        _ = settings.signing_key

    assert not (tmp_path / "data").exists()
    assert str(tmp_path / "data" / "jwt-secret") in str(missing.value)


def test_the_start_up_step_makes_the_secret_once_with_mode_0600(tmp_path: Path) -> None:
    ensure_signing_key(Settings(environment="test"))
    secret_file = tmp_path / "data" / "jwt-secret"
    first = secret_file.read_text()
    ensure_signing_key(Settings(environment="test"))

    assert len(first) == 64 and int(first, 16) >= 0
    assert secret_file.read_text() == first
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
    assert Settings(environment="test").signing_key == first


def test_a_configured_secret_makes_no_file(tmp_path: Path) -> None:
    settings = Settings(environment="test", jwt_secret="k" * 32)
    ensure_signing_key(settings)

    assert settings.signing_key == "k" * 32
    assert not (tmp_path / "data").exists()


def test_the_daemon_reads_gopherpayd_config_and_not_the_clis_gopherpay_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_file, daemon_file = tmp_path / "cli.toml", tmp_path / "daemon.toml"
    cli_file.write_text('server = "https://pay.example.com"\nnovu_server_url = "https://cli.example"\n')
    daemon_file.write_text('novu_server_url = "https://daemon.example"\n')
    monkeypatch.setenv("GOPHERPAY_CONFIG", str(cli_file))

    only_the_clis = Settings(environment="test").novu_server_url
    monkeypatch.setenv("GOPHERPAYD_CONFIG", str(daemon_file))
    both = Settings(environment="test").novu_server_url

    assert (only_the_clis, both) == ("", "https://daemon.example")
    assert config_path() == cli_file  # and the CLI keeps reading its own


def test_the_cli_does_not_read_the_daemons_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOPHERPAYD_CONFIG", str(tmp_path / "daemon.toml"))

    assert config_path() == tmp_path / "config" / "gopherpay" / "config.toml"


def test_the_daemon_says_gopherpay_config_is_not_its_file(tmp_path: Path) -> None:
    env = {"GOPHERPAY_CONFIG": str(tmp_path / "daemon.toml"), "GOPHERPAY_ENVIRONMENT": "test"}

    result = CliRunner().invoke(app, ["migrate", "--current"], env=env)

    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "gopherpayd: note: GOPHERPAY_CONFIG names the gopherpay CLI's config file and is not read here; "
        "the daemon's TOML file is GOPHERPAYD_CONFIG\n"
    )
