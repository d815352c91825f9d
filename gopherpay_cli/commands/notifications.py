"""The in-app inbox: list notifications and mark them read."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from gopherpay_cli import views
from gopherpay_cli.errors import UsageError, hints
from gopherpay_cli.listing import AllOption, CursorOption, show_list
from gopherpay_cli.options import limit_option
from gopherpay_cli.state import AppState, get_state, given_on_command_line

app = typer.Typer()
notifications_app = typer.Typer(
    help="Your in-app notifications: list them (the default) or mark them read.",
    invoke_without_command=True,
    subcommand_metavar="[COMMAND [ARGS]...]",
)
app.add_typer(notifications_app, name="notifications")

UnreadOption = Annotated[bool, typer.Option("--unread", help="Only the notifications not read yet.")]
LimitOption = Annotated[int, limit_option("At most this many.")]
NOT_FOUND_HINT = "See your notifications: gopherpay notifications"


@notifications_app.callback()
def notifications(
    ctx: typer.Context,
    unread: UnreadOption = False,
    limit: LimitOption = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """Without a command: list your notifications, newest first (as `notifications list` does)."""
    if ctx.invoked_subcommand is None:
        _show(get_state(ctx), unread=unread, limit=limit, every=every, cursor=cursor)
        return
    if unread or given_on_command_line(ctx, "limit"):
        raise UsageError(
            f"--unread and --limit go with listing, not with: notifications {ctx.invoked_subcommand}"
        )
    if every or cursor is not None:
        raise UsageError(
            f"--all and --cursor go with listing, not with: notifications {ctx.invoked_subcommand}"
        )


@notifications_app.command("list")
def notifications_list(
    ctx: typer.Context,
    unread: UnreadOption = False,
    limit: LimitOption = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """List your notifications, newest first."""
    _show(get_state(ctx), unread=unread, limit=limit, every=every, cursor=cursor)


@notifications_app.command("read")
def notifications_read(
    ctx: typer.Context,
    notification_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="ID", help="The notifications to mark read (see: notifications)."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Mark every unread notification read.")] = False,
) -> None:
    """Mark notifications read, by id or all at once."""
    state = get_state(ctx)
    if every:
        if notification_ids:
            raise UsageError("Give either notification ids or --all, not both")
        marked = state.client().post("/v1/notifications/read-all")
        count = marked.get("marked", 0) if isinstance(marked, dict) else 0
        state.renderer.info(f"Marked {views.plural(count, 'notification')} read.")
        views.show(state.renderer, marked)
        return
    if not notification_ids:
        raise UsageError(
            "Give the ids of the notifications to mark read, or --all",
            hint="See their ids with: gopherpay notifications --unread",
        )
    read = []
    with hints(not_found=NOT_FOUND_HINT, notification_not_found=NOT_FOUND_HINT):
        for notification_id in notification_ids:
            read.append(state.client().post(f"/v1/notifications/{quote(notification_id, safe='')}/read"))
            state.renderer.info(f"Marked notification {notification_id} read.")
    views.show(state.renderer, {"items": read})


def _show(state: AppState, *, unread: bool, limit: int, every: bool, cursor: str | None) -> None:
    params: dict[str, str | int] = {"unread": "true"} if unread else {}
    show_list(
        state,
        "/v1/notifications",
        params,
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: views.show_notifications(state.renderer, page, unread_only=unread),
        noun="notifications",
    )
