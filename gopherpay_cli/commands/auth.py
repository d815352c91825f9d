"""Identity: signup, login, logout, whoami, email verification, sessions, password."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from gopherpay_cli import views
from gopherpay_cli.errors import RESEND_CODE, ApiError, GopherPayError, UsageError, hints, wait_text
from gopherpay_cli.listing import AllOption, CursorOption, show_list
from gopherpay_cli.options import limit_option
from gopherpay_cli.prompts import (
    email_problem,
    new_password_problem,
    password_or_prompt,
    password_pair_or_prompt,
    value_or_prompt,
)
from gopherpay_cli.state import AppState, get_state

app = typer.Typer()
sessions_app = typer.Typer(help="List and revoke your login sessions.", no_args_is_help=True)
password_app = typer.Typer(help="Change your password.", no_args_is_help=True)
app.add_typer(sessions_app, name="sessions")
app.add_typer(password_app, name="password")

VERIFICATION_CODE_LENGTH = 6

EmailOption = Annotated[
    str | None,
    typer.Option("--email", metavar="EMAIL", help="Your email address (prompted for if left out)."),
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of stdin instead of prompting.",
    ),
]


@app.command()
def signup(
    ctx: typer.Context,
    email: EmailOption = None,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="Your full name (prompted for if left out)."),
    ] = None,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Create an account, then log in to it."""
    state = get_state(ctx)
    email = value_or_prompt(state, email, flag="--email", label="Email", check=email_problem)
    full_name = value_or_prompt(state, name, flag="--name", label="Full name")
    password = password_or_prompt(state, from_stdin=password_stdin, confirm=True, check=new_password_problem)
    body = {"email": email, "full_name": full_name, "password": password}
    user = state.client().post("/v1/auth/signup", body, authenticated=False)
    _log_in(state, email, password)
    state.renderer.info(f"Signed up and logged in to {state.server} as {user['email']}.")
    views.show(state.renderer, user)


@app.command()
def login(
    ctx: typer.Context,
    email: EmailOption = None,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Log in and keep the session in the OS keyring."""
    state = get_state(ctx)
    email = value_or_prompt(state, email, flag="--email", label="Email")
    password = password_or_prompt(state, from_stdin=password_stdin)
    user = _log_in(state, email, password)
    state.renderer.info(f"Logged in to {state.server} as {user.get('email', email)}.")
    if state.credentials.from_environment:
        state.renderer.warn("Note: GOPHERPAY_TOKEN is set and is used instead of this login.")
    views.show(state.renderer, user)


@app.command()
def logout(ctx: typer.Context) -> None:
    """End the session on the daemon and forget it on this computer."""
    state = get_state(ctx)
    if state.credentials.load() is None:
        state.renderer.info(f"You are not logged in to {state.server}.")
        return
    try:
        state.client().post("/v1/auth/logout")
    except ApiError as error:
        if error.status != 401:  # 401: the session had already ended
            _forget_stored_login(state)
            raise
    except GopherPayError as error:
        _forget_stored_login(state)
        error.hint = (
            "The login was forgotten here, but the session may stay valid on the daemon "
            "until it expires. Revoke it later with: gopherpay sessions revoke SESSION_ID"
        )
        raise
    _forget_stored_login(state)
    state.renderer.info(f"Logged out of {state.server}.")


@app.command()
def whoami(ctx: typer.Context) -> None:
    """Show the account you are logged in as."""
    state = get_state(ctx)
    views.show_user(state.renderer, state.client().get("/v1/me"))


@app.command()
def verify(
    ctx: typer.Context,
    code: Annotated[
        str | None,
        typer.Argument(metavar="CODE", help="The 6-digit code from the verification email."),
    ] = None,
    resend: Annotated[
        bool,
        typer.Option("--resend", help="Send a new code instead; earlier codes stop working."),
    ] = False,
) -> None:
    """Verify your email address with the code sent to it (needed to send money)."""
    state = get_state(ctx)
    if resend:
        if code is not None:
            raise UsageError("Give either a CODE or --resend, not both")
        _resend_code(state)
        return
    if code is None:
        raise UsageError(
            "Give the CODE from the verification email",
            hint=f"Run: gopherpay verify CODE (or, for a new code: {RESEND_CODE})",
        )
    try:
        user = state.client().post("/v1/auth/verify-email", {"code": _verification_code(code)})
    except ApiError as error:
        if error.code == "too_many_attempts":
            error.hint = f"Too many wrong codes: this one no longer works. Get a new one: {RESEND_CODE}"
        raise
    state.renderer.info(f"Email address {user.get('email', '')} verified.")
    views.show(state.renderer, user)


def _verification_code(text: str) -> str:
    """The code as typed, with the spaces or dashes an email client may add removed."""
    code = "".join(text.split()).replace("-", "")
    if not (code.isascii() and code.isdigit() and len(code) == VERIFICATION_CODE_LENGTH):
        raise UsageError(
            f"CODE is the {VERIFICATION_CODE_LENGTH}-digit code from the verification email, got {text!r}"
        )
    return code


def _resend_code(state: AppState) -> None:
    try:
        sent = state.client().post("/v1/auth/verify-email/resend")
    except ApiError as error:
        if error.code == "too_many_attempts":
            error.hint = f"Too many codes sent. Wait {wait_text(error.retry_after)}, then run: {RESEND_CODE}"
        raise
    stored = state.credentials.load()
    email = stored.email if stored is not None and stored.email else None
    if email is None:  # GOPHERPAY_TOKEN says nothing about whose token it is
        email = state.client().get("/v1/me").get("email", "your email address")
    expires_in = sent.get("expires_in") if isinstance(sent, dict) else None
    expiry = f"; it expires in {views.duration(expires_in)}" if isinstance(expires_in, int) else ""
    state.renderer.info(f"A new code is on its way to {email}{expiry}.")
    views.show(state.renderer, sent)


@sessions_app.command("list")
def sessions_list(
    ctx: typer.Context,
    limit: Annotated[int, limit_option("At most this many sessions.")] = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """List your sessions (one per login), newest first, marking the current one."""
    state = get_state(ctx)
    show_list(
        state,
        "/v1/sessions",
        {},
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: views.show_sessions(state.renderer, page),
        noun="sessions",
    )


@sessions_app.command("revoke")
def sessions_revoke(
    ctx: typer.Context,
    session_id: Annotated[
        str, typer.Argument(metavar="SESSION_ID", help="The session to end (see: sessions list).")
    ],
) -> None:
    """End one of your sessions, for example on a lost laptop."""
    state = get_state(ctx)
    state.client().delete(f"/v1/sessions/{quote(session_id, safe='')}")
    state.renderer.info(f"Revoked session {session_id}.")
    stored = None if state.credentials.from_environment else state.credentials.load_stored()
    if stored is not None and stored.session_id == session_id:
        state.credentials.delete()
        state.renderer.info("That was this session: you are now logged out.")


@password_app.command("change")
def password_change(
    ctx: typer.Context,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read two lines from stdin: the current password, then the new one.",
        ),
    ] = False,
) -> None:
    """Change your password; every other session is logged out."""
    state = get_state(ctx)
    current, new = password_pair_or_prompt(state, from_stdin=password_stdin)
    with hints(invalid_credentials="The current password is not right."):
        state.client().post("/v1/me/password", {"current_password": current, "new_password": new})
    state.renderer.info("Password changed. Your other sessions were logged out.")


def _log_in(state: AppState, email: str, password: str) -> dict[str, object]:
    """Log in, store the tokens, and answer the logged-in user."""
    from gopherpay_cli.credentials import Credentials

    with hints(invalid_credentials="Check the email address and password, then try again."):
        pair = state.client().post(
            "/v1/auth/login", {"email": email, "password": password}, authenticated=False
        )
    state.credentials.save(Credentials.from_token_pair(pair, fallback_email=email))
    user = pair.get("user")
    return user if isinstance(user, dict) else {"email": email}


def _forget_stored_login(state: AppState) -> None:
    if not state.credentials.from_environment:
        state.credentials.delete()
