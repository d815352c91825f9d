"""What the global options decided, shared by every command through the Typer context."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gopherpay_cli.config import app_dir, resolve_server
from gopherpay_cli.render import Renderer

if TYPE_CHECKING:
    from gopherpay_cli.client import ApiClient
    from gopherpay_cli.credentials import CredentialStore


@dataclass
class AppState:
    server_option: str | None
    json_output: bool
    no_input: bool
    quiet: bool
    ca_bundle: Path | None
    profile: str | None = None
    timeout: float | None = None
    json_fields: str | None = None
    jq: str | None = None
    _client: ApiClient | None = field(default=None, repr=False)

    @cached_property
    def server(self) -> str:
        """The daemon URL, normalized (read from the config file only when needed)."""
        return resolve_server(self.server_option)

    @cached_property
    def renderer(self) -> Renderer:
        output_filter = None
        if self.json_fields or self.jq is not None:
            from gopherpay_cli.scripting import OutputFilter

            output_filter = OutputFilter(self.json_fields, self.jq)
        return Renderer(json_output=self.json_output, quiet=self.quiet, output_filter=output_filter)

    @cached_property
    def credentials(self) -> CredentialStore:
        from gopherpay_cli.credentials import CredentialStore

        return CredentialStore(self.server, app_dir(), warn=self.renderer.warn, profile=self.profile)

    def client(self) -> ApiClient:
        """The API client, created on first use (httpx is imported only then)."""
        if self._client is None:
            from gopherpay_cli.client import ApiClient

            self._client = ApiClient(
                self.server,
                self.credentials,
                ca_bundle=str(self.ca_bundle) if self.ca_bundle else None,
                timeout=self.timeout,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def get_state(ctx: typer.Context) -> AppState:
    """The state the root command stored for this invocation."""
    state = ctx.find_root().obj
    assert isinstance(state, AppState), "the root callback sets the state"
    return state


def given_on_command_line(ctx: typer.Context, name: str) -> bool:
    """True when the user typed the option `name` (a parameter name), rather than it defaulting."""
    from typer._click.core import ParameterSource

    return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
