"""`gopherpay api METHOD PATH`: any API request with the stored login, like `gh api`."""

from __future__ import annotations

import json
import uuid
from enum import StrEnum
from typing import Annotated, Any

import typer

from gopherpay_cli.errors import UsageError
from gopherpay_cli.state import get_state

app = typer.Typer()


class Method(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


@app.command()
def api(
    ctx: typer.Context,
    method: Annotated[Method, typer.Argument(metavar="METHOD", help="GET, POST, PUT, PATCH or DELETE.")],
    path: Annotated[str, typer.Argument(metavar="PATH", help="The API path, like /v1/me.")],
    fields: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-F",
            metavar="KEY=VALUE",
            help="A query parameter (GET, DELETE) or a field of the JSON body (others). Numbers, "
            "true, false and null are sent as JSON; anything else as a string. Repeatable.",
        ),
    ] = None,
    raw_fields: Annotated[
        list[str] | None,
        typer.Option("--raw-field", "-f", metavar="KEY=VALUE", help="Like --field, always a string."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="Sent with POST (default: a new random key), so a money-moving request that is "
            "retried after a network failure is done at most once.",
        ),
    ] = None,
) -> None:
    """Send any request to the daemon with your login and print the JSON answer."""
    state = get_state(ctx)
    if not path.startswith("/"):
        raise UsageError(f"PATH starts with /, like /v1/me; got {path!r}")
    values = {name: _typed(value) for name, value in map(_pair, fields or [])}
    values |= {name: value for name, value in map(_pair, raw_fields or [])}
    in_query = method in (Method.GET, Method.DELETE)
    params = {name: _query_text(value) for name, value in values.items()} if in_query else None
    body = values if values and not in_query else None
    idempotency = (key or str(uuid.uuid4())) if method == Method.POST else key
    answer = state.client().call(method.value, path, params=params, body=body, idempotency_key=idempotency)
    if answer is not None:
        state.renderer.json(answer)


def _pair(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise UsageError(f"--field takes KEY=VALUE, got {text!r}")
    return name, value


def _typed(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if parsed is None or isinstance(parsed, bool | int | float) else value


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
