"""Where the CLI keeps its tokens: the OS keyring, a private file, or GOPHERPAY_TOKEN.

- The OS keyring (service `gopherpay`, user name = the server URL, secret = a
  JSON object with both tokens, the email and the session id).
- Where no keyring backend works (a headless server), a JSON file in the app
  directory, mode 0600, keyed by server URL. The CLI says so once on stderr.
- GOPHERPAY_TOKEN, for scripts and CI: used as the access token as is; it is
  never stored and never refreshed.

keyring is imported on first use, not at start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gopherpay_cli.errors import ExitCode, GopherPayError

SERVICE = "gopherpay"
TOKEN_ENV = "GOPHERPAY_TOKEN"
FILE_NAME = "credentials.json"
LOCK_NAME = "credentials.lock"


@dataclass(frozen=True)
class Credentials:
    access_token: str
    refresh_token: str | None = None
    email: str | None = None
    session_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_token_pair(cls, pair: Any, *, fallback_email: str | None = None) -> Credentials:
        """Credentials to store from the `TokenPair` that login and refresh answer."""
        if not isinstance(pair, dict) or not isinstance(pair.get("access_token"), str):
            raise GopherPayError("The daemon answered without tokens", ExitCode.FAILURE)
        user = pair.get("user")
        email = user.get("email") if isinstance(user, dict) else None
        return cls(
            access_token=pair["access_token"],
            refresh_token=pair.get("refresh_token"),
            email=email or fallback_email,
            session_id=pair.get("session_id"),
        )

    @classmethod
    def from_mapping(cls, data: Any) -> Credentials | None:
        """Credentials from a stored JSON object, or None when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            return None
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            email=data.get("email"),
            session_id=data.get("session_id"),
        )


class CredentialStore:
    """The stored credentials for one server URL."""

    def __init__(
        self, server: str, app_dir: Path, warn: Callable[[str], None], profile: str | None = None
    ) -> None:
        # One entry per server URL; a named profile (an operator next to a user) gets its own.
        self.server = server if not profile else f"{server}#{profile}"
        self.app_dir = app_dir
        self.file_path = app_dir / FILE_NAME
        self._warn = warn
        self._backend: Any = None
        self._use_file: bool | None = None
        self._announced_file = False

    @property
    def from_environment(self) -> bool:
        """True when GOPHERPAY_TOKEN overrides whatever is stored."""
        return bool(os.environ.get(TOKEN_ENV))

    def load(self) -> Credentials | None:
        """The credentials to use, or None when not logged in."""
        token = os.environ.get(TOKEN_ENV)
        if token:
            return Credentials(access_token=token)
        return self.load_stored()

    def load_stored(self) -> Credentials | None:
        """The stored credentials, ignoring GOPHERPAY_TOKEN."""
        if not self._file_fallback():
            secret = self._keyring_call("get_password", SERVICE, self.server)
            if not self._file_fallback():
                return _parse_secret(secret)
        return Credentials.from_mapping(self._read_file().get(self.server))

    def save(self, credentials: Credentials, *, announce: bool = True) -> None:
        """Store credentials for this server, replacing any before.

        `announce=False` (a transparent refresh) keeps the file-fallback notice for
        the login that first wrote the file.
        """
        if not self._file_fallback():
            self._keyring_call("set_password", SERVICE, self.server, credentials.to_json())
            if not self._file_fallback():
                return
        first_time = not self.file_path.exists()
        entries = self._read_file()
        entries[self.server] = asdict(credentials)
        self._write_file(entries)
        # Said when the file is created, not at every login: after that, `auth status` says where.
        if announce and first_time and not self._announced_file:
            self._announced_file = True
            self._warn(
                f"No usable keyring backend; storing credentials in {self.file_path} (readable only by you)."
            )

    def storage(self) -> tuple[str, str]:
        """Where the token in use comes from: (`environment`, `keyring` or `file`, in words)."""
        if self.from_environment:
            return "environment", f"the {TOKEN_ENV} environment variable (never stored)"
        if not self._file_fallback():
            backend = type(self._backend)
            return "keyring", f"the OS keyring ({backend.__module__}.{backend.__name__}), service {SERVICE}"
        return "file", f"{self.file_path} (mode 0600; no usable keyring backend)"

    def delete(self) -> None:
        """Forget the credentials for this server, in the keyring and in the file."""
        if not self._file_fallback():
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):
                self._keyring_call("delete_password", SERVICE, self.server)
        if self.file_path.exists():
            entries = self._read_file()
            if entries.pop(self.server, None) is not None:
                self._write_file(entries)

    @contextlib.contextmanager
    def refresh_lock(self) -> Iterator[None]:
        """Serialize token refreshes across gopherpay processes.

        A refresh token is single-use and reusing one revokes the whole session,
        so two scripts refreshing at once must not both spend it.
        """
        try:
            import fcntl

            self.app_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.app_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except (ImportError, OSError):
            fd = None  # not POSIX, or no writable app directory: refresh without the lock
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _file_fallback(self) -> bool:
        """True when credentials go to the file, because no keyring backend works."""
        if self._use_file is None:
            self._backend = usable_keyring()
            self._use_file = self._backend is None
        return self._use_file

    def _keyring_call(self, method: str, *args: str) -> Any:
        """Call the keyring backend; if it fails, switch to the file for this process."""
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            return getattr(self._backend, method)(*args)
        except PasswordDeleteError:
            raise
        except (KeyringError, RuntimeError):
            self._use_file = True
            return None

    def _read_file(self) -> dict[str, Any]:
        try:
            os.chmod(self.file_path, 0o600)
            text = self.file_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            entries = json.loads(text)
        except ValueError:
            return {}
        return entries if isinstance(entries, dict) else {}

    def _write_file(self, entries: dict[str, Any]) -> None:
        """Replace the file atomically; it is created 0600 and never readable by others."""
        self.app_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.file_path.with_name(f".{FILE_NAME}.{secrets.token_hex(6)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entries, handle, indent=2)
            os.replace(temporary, self.file_path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        os.chmod(self.file_path, 0o600)


def usable_keyring() -> Any:
    """The keyring backend to use, or None when there is no usable one.

    keyring's `fail` backend means there is none. A low-priority backend
    (below 1, such as keyrings.alt's plaintext file) counts only when the user
    chose it, through PYTHON_KEYRING_BACKEND or keyring's config file;
    otherwise our own 0600 file is the safer place.
    """
    import keyring
    import keyring.core
    from keyring.backends import fail
    from keyring.errors import KeyringError

    try:
        backend = keyring.get_keyring()
        chosen = bool(os.environ.get("PYTHON_KEYRING_BACKEND")) or (keyring.core.load_config() is not None)
        priority = float(backend.priority)
    except (KeyringError, RuntimeError, ImportError, ValueError, AttributeError):
        return None
    if isinstance(backend, fail.Keyring) or priority <= 0:
        return None
    if priority < 1 and not chosen:
        return None
    return backend


def _parse_secret(secret: str | None) -> Credentials | None:
    if not secret:
        return None
    try:
        return Credentials.from_mapping(json.loads(secret))
    except ValueError:
        return None
