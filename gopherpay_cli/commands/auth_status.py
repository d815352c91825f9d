"""`gopherpay auth status`: who you are, on which server, and where the token comes from."""

from __future__ import annotations

import typer

from gopherpay_cli import views
from gopherpay_cli.state import get_state

app = typer.Typer()
auth_app = typer.Typer(help="Your login: who, which server, where the token is kept.", no_args_is_help=True)
app.add_typer(auth_app, name="auth")


@auth_app.command("status")
def auth_status(ctx: typer.Context) -> None:
    """Show who you are logged in as, on which server, and where the token is kept."""
    state = get_state(ctx)
    me = state.client().get("/v1/me")
    source, storage = state.credentials.storage()
    status = {
        "server": state.server,
        "profile": state.profile,
        "user": me,
        "token_source": source,
        "token_storage": storage,
    }

    def details() -> None:
        name = f" ({me.get('full_name')}, {me.get('role')})" if me.get("full_name") else ""
        state.renderer.details(
            [
                ("Server", state.server),
                ("Profile", state.profile or "default"),
                ("Logged in as", f"{me.get('email', '')}{name}"),
                ("Token from", storage),
            ]
        )

    views.show(state.renderer, status, details)
