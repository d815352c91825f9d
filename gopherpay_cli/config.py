"""Where the CLI keeps its files, and which daemon it talks to."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import typer

from gopherpay_cli.errors import UsageError

APP_NAME = "gopherpay"
DEFAULT_SERVER = "http://127.0.0.1:8080"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def app_dir() -> Path:
    """The per-user directory for config and credentials (honours XDG_CONFIG_HOME)."""
    return Path(typer.get_app_dir(APP_NAME))


def config_path() -> Path:
    """The config file: GOPHERPAY_CONFIG, else config.toml in the app directory."""
    override = os.environ.get("GOPHERPAY_CONFIG")
    return Path(override) if override else app_dir() / "config.toml"


def server_from_config(path: Path) -> str | None:
    """The `server = "…"` value of the config file, or None when there is none."""
    # Here, not at the top: with --server or GOPHERPAY_SERVER, no start reads the file.
    import tomllib

    try:
        with path.open("rb") as config_file:
            config = tomllib.load(config_file)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"Cannot read the config file {path}: {error}") from error
    server = config.get("server")
    if server is not None and not isinstance(server, str):
        raise UsageError(f'`server` in {path} must be a string, like "{DEFAULT_SERVER}"')
    return server


def resolve_server(from_option: str | None) -> str:
    """The daemon URL: --server / GOPHERPAY_SERVER, else the config file, else the default."""
    if from_option:
        return normalize_server_url(from_option)
    path = config_path()
    return normalize_server_url(server_from_config(path) or DEFAULT_SERVER)


def normalize_server_url(url: str) -> str:
    """One spelling per server, so credentials are found again: `HTTP://Host:80/` → `http://host`."""
    parts = urlsplit(url.strip())
    if "@" in parts.netloc:
        # Not echoed: the URL may hold a password.
        raise UsageError("A server URL cannot carry a user name or password")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise UsageError(
            f"Not a server URL: {url!r}",
            hint=f"Give an http:// or https:// address, like {DEFAULT_SERVER}",
        )
    if parts.query or parts.fragment:
        raise UsageError(f"A server URL has no query or fragment: {url!r}")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as error:
        raise UsageError(f"Not a server URL: {url!r} ({error})") from error
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))
