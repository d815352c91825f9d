"""Which daemon the CLI talks to: --server, GOPHERPAY_SERVER, the config file, the default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gopherpay_cli.config import DEFAULT_SERVER, config_path, normalize_server_url, resolve_server
from gopherpay_cli.errors import UsageError
from tests.cli.conftest import Run
from tests.cli.fake_daemon import FakeDaemon, Reply


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("HTTPS://Pay.Example.COM:443/", "https://pay.example.com"),
        ("http://pay.example.com:80", "http://pay.example.com"),
        ("https://pay.example.com/gopherpay/", "https://pay.example.com/gopherpay"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_server_urls_have_one_spelling(given: str, normalized: str) -> None:
    assert normalize_server_url(given) == normalized


@pytest.mark.parametrize("given", ["127.0.0.1:8080", "ftp://host", "http://", "http://host?x=1"])
def test_things_that_are_not_server_urls_are_usage_errors(given: str) -> None:
    with pytest.raises(UsageError):
        normalize_server_url(given)


def test_a_password_in_the_server_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(UsageError) as refused:
        normalize_server_url("https://alice:s3cret@pay.example.com")
    assert "s3cret" not in refused.value.message


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("GOPHERPAY_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path


def test_the_config_file_lives_in_the_app_directory(config_home: Path) -> None:
    assert config_path() == config_home / "gopherpay" / "config.toml"


def test_without_option_or_config_the_local_daemon_is_used(config_home: Path) -> None:
    assert resolve_server(None) == DEFAULT_SERVER


def test_the_config_file_names_the_server(config_home: Path) -> None:
    (config_home / "gopherpay").mkdir()
    (config_home / "gopherpay" / "config.toml").write_text('server = "https://pay.example.com/"\n')

    assert resolve_server(None) == "https://pay.example.com"


def test_the_option_beats_the_config_file(config_home: Path) -> None:
    (config_home / "gopherpay").mkdir()
    (config_home / "gopherpay" / "config.toml").write_text('server = "https://pay.example.com"\n')

    assert resolve_server("http://localhost:9000") == "http://localhost:9000"


def test_gopherpay_config_points_at_another_file(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = config_home / "elsewhere.toml"
    other.write_text('server = "https://other.example.com"\n')
    monkeypatch.setenv("GOPHERPAY_CONFIG", str(other))

    assert resolve_server(None) == "https://other.example.com"


def test_the_executable_reads_the_server_from_the_config_file(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], cli_env: dict[str, str], home: Path
) -> None:
    del cli_env["GOPHERPAY_SERVER"]
    (home / "config" / "gopherpay").mkdir()
    (home / "config" / "gopherpay" / "config.toml").write_text(f'server = "{daemon.url}"\n')
    daemon.on("GET", "/v1/wallets", Reply(200, {"items": []}))

    result = gopherpay("--json", "balance", env={"GOPHERPAY_TOKEN": "t"})

    assert result.exit_code == 0, result.stderr
    assert len(daemon.seen("GET", "/v1/wallets")) == 1


def test_a_broken_config_file_is_a_usage_error(
    gopherpay: Callable[..., Run], cli_env: dict[str, str], home: Path
) -> None:
    del cli_env["GOPHERPAY_SERVER"]
    path = home / "config" / "gopherpay" / "config.toml"
    path.parent.mkdir()
    path.write_text("server = \n")

    result = gopherpay("balance", env={"GOPHERPAY_TOKEN": "t"})

    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: Cannot read the config file {path}: ")
