"""Long-lived API tokens for scripts and CI: create, list, revoke."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

import typer

from gopherpay_cli import views
from gopherpay_cli.errors import UsageError, hints
from gopherpay_cli.listing import AllOption, CursorOption, show_list
from gopherpay_cli.options import limit_option
from gopherpay_cli.render import Renderer
from gopherpay_cli.state import get_state

app = typer.Typer()
tokens_app = typer.Typer(
    help="Long-lived, scoped, revocable API tokens for scripts and CI (GOPHERPAY_TOKEN).",
    no_args_is_help=True,
)
app.add_typer(tokens_app, name="tokens")

DURATION = re.compile(r"(\d+)([dwy])")
DAYS_PER_UNIT = {"d": 1, "w": 7, "y": 365}
NOT_FOUND_HINT = "See your tokens: gopherpay tokens list"


class Scope(StrEnum):
    read = "read"
    transfer = "transfer"


def expires_in_days(text: str) -> int | None:
    """`90d`, `12w`, `1y` as days; `never` as None."""
    if text.strip().lower() == "never":
        return None
    match = DURATION.fullmatch(text.strip().lower())
    days = int(match.group(1)) * DAYS_PER_UNIT[match.group(2)] if match else 0
    if not 1 <= days <= 3650:
        raise UsageError(
            f"--expires takes a lifetime like 30d, 12w or 1y (at most 10 years), or never; got {text!r}"
        )
    return days


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="What the token is for, like ci or dashboard.")
    ],
    scope: Annotated[
        Scope,
        typer.Option(
            "--scope",
            help="read: look only (balances, history), never move money. transfer: also send money.",
        ),
    ],
    expires: Annotated[
        str,
        typer.Option("--expires", metavar="AGE", help="Lifetime: 30d, 12w, 1y, or never."),
    ] = "90d",
) -> None:
    """Create an API token; it is printed once, on stdout, and never again."""
    state = get_state(ctx)
    body: dict[str, Any] = {"name": name, "scope": scope.value, "expires_in_days": expires_in_days(expires)}
    created = state.client().post("/v1/tokens", body)
    until = (
        f"until {views.timestamp(created.get('expires_at'))}"
        if created.get("expires_at")
        else "until revoked"
    )
    state.renderer.info(
        f"Created the {created['scope']} token {created['name']!r}, valid {until}. It is shown only now: "
        "keep it as a secret, e.g. GOPHERPAY_TOKEN in your CI."
    )
    views.show(state.renderer, created, lambda: state.renderer.line(created["token"]))


@tokens_app.command("list")
def tokens_list(
    ctx: typer.Context,
    limit: Annotated[int, limit_option("At most this many tokens.")] = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """List your API tokens (never the tokens themselves), newest first."""
    state = get_state(ctx)
    show_list(
        state,
        "/v1/tokens",
        {},
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: views.show(
            state.renderer, page, lambda: _token_table(state.renderer, page.get("items", []))
        ),
        noun="tokens",
    )


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token to revoke (see: tokens list).")],
) -> None:
    """Revoke an API token: it stops working at once."""
    state = get_state(ctx)
    with hints(api_token_not_found=NOT_FOUND_HINT):
        revoked = state.client().delete(f"/v1/tokens/{quote(token_id, safe='')}")
    state.renderer.info(f"Revoked the token {revoked['name']!r} ({revoked['prefix']}…).")
    views.show(state.renderer, revoked)


def _token_table(renderer: Renderer, tokens: list[dict[str, Any]]) -> None:
    if not tokens:
        renderer.info("No API tokens. Create one with: gopherpay tokens create --name ci --scope read")
        return
    rows = [
        (
            token.get("name", ""),
            token.get("scope", ""),
            f"{token.get('prefix', '')}…",
            views.timestamp(token.get("created_at")),
            views.timestamp(token.get("expires_at")) or "never",
            views.timestamp(token.get("last_used_at")) or "never",
            "revoked" if token.get("revoked_at") else "",
            token.get("id", ""),
        )
        for token in tokens
    ]
    renderer.table(("name", "scope", "token", "created", "expires", "last used", "status", "id"), rows)
