"""Where tokens are kept: the OS keyring, a 0600 file when there is none, or GOPHERPAY_TOKEN."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring

from gopherpay_cli.credentials import SERVICE, Credentials, CredentialStore

SERVER = "http://127.0.0.1:8080"
ALICE = Credentials(
    access_token="access-1", refresh_token="refresh-1", email="alice@example.com", session_id="s-1"
)


class BrokenKeyring(KeyringBackend):
    """A keyring that looks fine but fails on use, like a locked Secret Service."""

    priority = 5  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringError("the keyring is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringError("the keyring is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringError("the keyring is locked")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Empty config and data directories; the process keyring restored afterwards."""
    for name in ("GOPHERPAY_TOKEN", "PYTHON_KEYRING_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    before = keyring.get_keyring()
    yield tmp_path
    keyring.set_keyring(before)


@pytest.fixture
def warnings() -> list[str]:
    return []


def store_in(app_dir: Path, warnings: list[str], server: str = SERVER) -> CredentialStore:
    return CredentialStore(server, app_dir, warn=warnings.append)


def test_without_a_keyring_credentials_go_to_a_file_only_the_user_can_read(
    isolated: Path, warnings: list[str]
) -> None:
    keyring.set_keyring(fail.Keyring())
    app_dir = isolated / "config" / "gopherpay"

    store_in(app_dir, warnings).save(ALICE)

    path = app_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        SERVER: {
            "access_token": "access-1",
            "refresh_token": "refresh-1",
            "email": "alice@example.com",
            "session_id": "s-1",
        }
    }
    assert warnings == [f"No usable keyring backend; storing credentials in {path} (readable only by you)."]


def test_file_fallback_notice_is_printed_once(isolated: Path, warnings: list[str]) -> None:
    keyring.set_keyring(fail.Keyring())
    store = store_in(isolated / "app", warnings)

    store.save(ALICE)
    store.save(ALICE)

    assert len(warnings) == 1


def test_file_fallback_round_trip(isolated: Path, warnings: list[str]) -> None:
    keyring.set_keyring(fail.Keyring())
    store_in(isolated / "app", warnings).save(ALICE)

    assert store_in(isolated / "app", warnings).load() == ALICE


def test_an_existing_credentials_file_is_made_private(isolated: Path, warnings: list[str]) -> None:
    keyring.set_keyring(fail.Keyring())
    app_dir = isolated / "app"
    app_dir.mkdir()
    path = app_dir / "credentials.json"
    path.write_text(json.dumps({SERVER: {"access_token": "old"}}))
    path.chmod(0o644)

    assert store_in(app_dir, warnings).load() == Credentials(access_token="old")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_file_keeps_one_entry_per_server(isolated: Path, warnings: list[str]) -> None:
    keyring.set_keyring(fail.Keyring())
    app_dir = isolated / "app"
    other = Credentials(access_token="access-other")
    store_in(app_dir, warnings).save(ALICE)
    store_in(app_dir, warnings, "https://pay.example.com").save(other)

    store_in(app_dir, warnings).delete()

    assert store_in(app_dir, warnings).load() is None
    assert store_in(app_dir, warnings, "https://pay.example.com").load() == other


def test_gopherpay_token_overrides_stored_credentials(
    isolated: Path, warnings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(fail.Keyring())
    store = store_in(isolated / "app", warnings)
    store.save(ALICE)
    monkeypatch.setenv("GOPHERPAY_TOKEN", "from-ci")

    assert store.load() == Credentials(access_token="from-ci")
    assert store.from_environment
    assert store.load_stored() == ALICE


def test_keyring_round_trip(isolated: Path, warnings: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    keyring.set_keyring(PlaintextKeyring())
    app_dir = isolated / "app"
    store = store_in(app_dir, warnings)

    store.save(ALICE)

    assert json.loads(keyring.get_password(SERVICE, SERVER) or "") == {
        "access_token": "access-1",
        "refresh_token": "refresh-1",
        "email": "alice@example.com",
        "session_id": "s-1",
    }
    assert store_in(app_dir, warnings).load() == ALICE
    assert not (app_dir / "credentials.json").exists()
    assert warnings == []


def test_keyring_delete_forgets_the_login(
    isolated: Path, warnings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    keyring.set_keyring(PlaintextKeyring())
    store = store_in(isolated / "app", warnings)
    store.save(ALICE)

    store.delete()

    assert keyring.get_password(SERVICE, SERVER) is None
    assert store.load() is None


def test_low_priority_keyring_nobody_chose_is_not_used(isolated: Path, warnings: list[str]) -> None:
    keyring.set_keyring(PlaintextKeyring())  # priority 0.5, picked without PYTHON_KEYRING_BACKEND

    store_in(isolated / "app", warnings).save(ALICE)

    assert keyring.get_password(SERVICE, SERVER) is None
    assert (isolated / "app" / "credentials.json").exists()


def test_a_failing_keyring_falls_back_to_the_file(isolated: Path, warnings: list[str]) -> None:
    keyring.set_keyring(BrokenKeyring())
    app_dir = isolated / "app"

    store_in(app_dir, warnings).save(ALICE)

    assert json.loads((app_dir / "credentials.json").read_text())[SERVER]["access_token"] == "access-1"
    assert len(warnings) == 1
