"""signup, login, logout, whoami, verify, sessions and password change, through the real executable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import AS_ALICE, PASSWORD, SESSION_ID, Run, token_pair, user
from tests.cli.fake_daemon import FakeDaemon, Reply, problem
from tests.cli.terminal import run_in_terminal


def credentials_file(home: Path) -> Path:
    return home / "config" / "gopherpay" / "credentials.json"


def test_login_reads_the_password_from_stdin_and_stores_the_tokens(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], home: Path
) -> None:
    daemon.on("POST", "/v1/auth/login", Reply(200, token_pair()))

    result = gopherpay("login", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD + "\n")

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", "/v1/auth/login")[0].body == {
        "email": "alice@example.com",
        "password": PASSWORD,
    }
    assert json.loads(credentials_file(home).read_text()) == {
        daemon.url: {
            "access_token": "access-1",
            "refresh_token": "refresh-1",
            "email": "alice@example.com",
            "session_id": SESSION_ID,
        }
    }
    assert result.stdout == ""
    path = credentials_file(home)
    assert result.stderr == (
        f"No usable keyring backend; storing credentials in {path} (readable only by you).\n"
        f"Logged in to {daemon.url} as alice@example.com.\n"
    )


def test_login_never_prints_the_password_or_tokens(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/auth/login", Reply(200, token_pair()))

    result = gopherpay(
        "--json", "login", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD + "\n"
    )

    assert json.loads(result.stdout) == user()
    for secret in (PASSWORD, "access-1", "refresh-1"):
        assert secret not in result.stdout + result.stderr


def test_wrong_password_exits_3(daemon: FakeDaemon, gopherpay: Callable[..., Run], home: Path) -> None:
    daemon.on("POST", "/v1/auth/login", problem(401, "invalid_credentials", "email or password is wrong"))

    result = gopherpay("login", "--email", "alice@example.com", "--password-stdin", stdin="nope\n")

    assert result.exit_code == 3
    assert result.stderr == (
        "Error: Email or password is wrong\nCheck the email address and password, then try again.\n"
    )
    assert not credentials_file(home).exists()


def test_no_input_names_the_missing_email_flag(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("--no-input", "login")

    assert result.exit_code == 2
    assert result.stderr == "Error: --email is required when --no-input is set\n"
    assert daemon.requests == []


def test_no_input_names_the_password_stdin_flag(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("--no-input", "login", "--email", "alice@example.com")

    assert result.exit_code == 2
    assert result.stderr == "Error: --password-stdin is required when --no-input is set\n"


def test_password_without_a_terminal_asks_for_password_stdin(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    result = gopherpay("login", "--email", "alice@example.com", stdin="hunter2-hunter2\n")

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: No terminal to ask for a password on: pass it on stdin with --password-stdin\n"
    )
    assert daemon.requests == []


def test_no_input_names_the_missing_name_flag_on_signup(gopherpay: Callable[..., Run]) -> None:
    result = gopherpay(
        "--no-input", "signup", "--email", "alice@example.com", "--password-stdin", stdin="x\n"
    )

    assert result.exit_code == 2
    assert result.stderr == "Error: --name is required when --no-input is set\n"


def test_empty_stdin_with_password_stdin_says_stdin_is_empty(gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("login", "--email", "alice@example.com", "--password-stdin", stdin="")

    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "Error: --password-stdin: stdin is empty, there is no password to read"
    )


def test_an_empty_line_for_the_password_is_a_usage_error(gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("login", "--email", "alice@example.com", "--password-stdin", stdin="\n")

    assert result.exit_code == 2
    assert result.stderr == "Error: --password-stdin: expected the password on line 1 of stdin\n"


def test_signup_creates_the_account_then_logs_in(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/auth/signup", Reply(201, user()))
    daemon.on("POST", "/v1/auth/login", Reply(200, token_pair()))

    result = gopherpay(
        "--json",
        "signup",
        "--email",
        "alice@example.com",
        "--name",
        "Alice Liddell",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.stderr
    assert [(r.method, r.path, r.body) for r in daemon.requests] == [
        (
            "POST",
            "/v1/auth/signup",
            {"email": "alice@example.com", "full_name": "Alice Liddell", "password": PASSWORD},
        ),
        ("POST", "/v1/auth/login", {"email": "alice@example.com", "password": PASSWORD}),
    ]
    assert json.loads(result.stdout) == user()
    assert result.stderr.endswith(f"Signed up and logged in to {daemon.url} as alice@example.com.\n")


def test_signup_with_a_taken_email_exits_4(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on(
        "POST", "/v1/auth/signup", problem(409, "email_taken", "alice@example.com already has an account")
    )

    result = gopherpay(
        "signup", "--email", "alice@example.com", "--name", "A", "--password-stdin", stdin=PASSWORD + "\n"
    )

    assert result.exit_code == 4
    assert (
        result.stderr == "Error: alice@example.com already has an account\nLog in instead: gopherpay login\n"
    )


def test_logout_ends_the_session_and_forgets_it(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run, home: Path
) -> None:
    daemon.on("POST", "/v1/auth/logout", Reply(204))

    result = gopherpay("logout")

    assert result.exit_code == 0
    assert daemon.seen("POST", "/v1/auth/logout")[0].headers["authorization"] == "Bearer access-1"
    assert json.loads(credentials_file(home).read_text()) == {}
    assert result.stderr == f"Logged out of {daemon.url}.\n"


def test_logout_forgets_a_session_the_daemon_already_ended(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run, home: Path
) -> None:
    daemon.on("POST", "/v1/auth/logout", problem(401, "session_revoked", "this session has been revoked"))

    result = gopherpay("logout")

    assert result.exit_code == 0
    assert json.loads(credentials_file(home).read_text()) == {}


def test_whoami_json_prints_the_user(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("GET", "/v1/me", Reply(200, user()))

    result = gopherpay("--json", "whoami")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == user()


def test_revoking_the_current_session_logs_out_here(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run, home: Path
) -> None:
    daemon.on("DELETE", f"/v1/sessions/{SESSION_ID}", Reply(204))

    result = gopherpay("sessions", "revoke", SESSION_ID)

    assert result.exit_code == 0
    assert result.stderr == f"Revoked session {SESSION_ID}.\nThat was this session: you are now logged out.\n"
    assert json.loads(credentials_file(home).read_text()) == {}


def test_password_change_reads_current_then_new_from_stdin(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("POST", "/v1/me/password", Reply(204))

    result = gopherpay("password", "change", "--password-stdin", stdin="old password\nnew password\n")

    assert result.exit_code == 0
    assert daemon.seen("POST", "/v1/me/password")[0].body == {
        "current_password": "old password",
        "new_password": "new password",
    }
    assert result.stderr == "Password changed. Your other sessions were logged out.\n"


def test_password_change_needs_two_lines_on_stdin(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay(
        "password", "change", "--password-stdin", stdin="only one\n", env={"GOPHERPAY_TOKEN": "t"}
    )

    assert result.exit_code == 2
    assert result.stderr == "Error: --password-stdin: expected the new password on line 2 of stdin\n"
    assert daemon.requests == []


def test_whoami_says_whether_the_email_is_verified(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("GET", "/v1/me", Reply(200, user(email_verified=True)))

    result = gopherpay("whoami")

    assert result.exit_code == 0
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[:3] == ["Email\talice@example.com", "Verified\tyes", "Name\tAlice Liddell"]


def test_verify_sends_the_code_and_says_the_address_is_verified(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("POST", "/v1/auth/verify-email", Reply(200, user(email_verified=True)))

    result = gopherpay("verify", "123 456")

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", "/v1/auth/verify-email")[0].body == {"code": "123456"}
    assert daemon.requests[0].headers["authorization"] == "Bearer access-1"
    assert (result.stdout, result.stderr) == ("", "Email address alice@example.com verified.\n")


def test_verify_json_prints_the_verified_user(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/auth/verify-email", Reply(200, user(email_verified=True)))

    result = gopherpay("verify", "123456", "--json", env=AS_ALICE)

    assert json.loads(result.stdout) == user(email_verified=True)


@pytest.mark.parametrize(
    ("status", "code", "exit_code", "hint"),
    [
        (
            400,
            "invalid_verification_code",
            4,
            "Check the code in the email, or get a new one: gopherpay verify --resend",
        ),
        (400, "verification_code_expired", 4, "Get a new code: gopherpay verify --resend"),
        (409, "already_verified", 4, None),
        (
            429,
            "too_many_attempts",
            3,
            "Too many wrong codes: this one no longer works. Get a new one: gopherpay verify --resend",
        ),
    ],
)
def test_verify_refusals_exit_with_their_code_and_say_what_to_do(
    daemon: FakeDaemon,
    gopherpay: Callable[..., Run],
    status: int,
    code: str,
    exit_code: int,
    hint: str | None,
) -> None:
    """A hint only where it adds something to do (already verified: nothing to do)."""
    daemon.on("POST", "/v1/auth/verify-email", problem(status, code, f"the daemon says {code}"))

    result = gopherpay("verify", "123456", env=AS_ALICE)

    assert result.exit_code == exit_code
    assert result.stderr == f"Error: The daemon says {code}\n" + (f"{hint}\n" if hint else "")


@pytest.mark.parametrize("code", ["12345", "1234567", "12a456", "", "１２３４５６"])
def test_a_code_that_is_not_six_digits_is_refused_before_sending(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], code: str
) -> None:
    result = gopherpay("verify", code, env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr == f"Error: CODE is the 6-digit code from the verification email, got {code!r}\n"
    assert daemon.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (),
            "Error: Give the CODE from the verification email\n"
            "Run: gopherpay verify CODE (or, for a new code: gopherpay verify --resend)\n",
        ),
        (("123456", "--resend"), "Error: Give either a CODE or --resend, not both\n"),
    ],
)
def test_verify_takes_a_code_or_resend(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], args: tuple[str, ...], message: str
) -> None:
    result = gopherpay("verify", *args, env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr == message
    assert daemon.requests == []


def test_resend_names_the_stored_address_and_the_expiry(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("POST", "/v1/auth/verify-email/resend", Reply(202, {"sent": True, "expires_in": 900}))

    result = gopherpay("verify", "--resend")

    assert result.exit_code == 0, result.stderr
    assert [(r.method, r.path) for r in daemon.requests] == [("POST", "/v1/auth/verify-email/resend")]
    assert result.stderr == "A new code is on its way to alice@example.com; it expires in 15 minutes.\n"


def test_resend_with_a_token_from_the_environment_asks_whose_address_it_is(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/auth/verify-email/resend", Reply(202, {"sent": True, "expires_in": 3600}))
    daemon.on("GET", "/v1/me", Reply(200, user()))

    result = gopherpay("--json", "verify", "--resend", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert result.stderr == "A new code is on its way to alice@example.com; it expires in 1 hour.\n"
    assert json.loads(result.stdout) == {"sent": True, "expires_in": 3600}


def test_resending_too_often_exits_3_and_says_how_long_to_wait(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on(
        "POST",
        "/v1/auth/verify-email/resend",
        problem(429, "too_many_attempts", "more than 5 codes this hour", retry_after=1200),
    )

    result = gopherpay("verify", "--resend", env=AS_ALICE)

    assert result.exit_code == 3
    assert result.stderr == (
        "Error: More than 5 codes this hour\n"
        "Too many codes sent. Wait 1200 seconds, then run: gopherpay verify --resend\n"
    )


@pytest.mark.parametrize(
    ("command", "typed"),
    [
        (["login", "--email", "alice@example.com"], f"{PASSWORD}\n"),
        (["signup", "--email", "alice@example.com", "--name", "Alice"], f"{PASSWORD}\n"),
        (["password", "change"], f"{PASSWORD}\nnew {PASSWORD}\n"),
    ],
    ids=["login", "signup", "password change"],
)
def test_password_stdin_at_a_terminal_is_refused_before_reading_anything(
    daemon: FakeDaemon, cli_env: dict[str, str], command: list[str], typed: str
) -> None:
    daemon.on("POST", "/v1/auth/login", Reply(200, token_pair()))
    daemon.on("POST", "/v1/auth/signup", Reply(201, user()))
    daemon.on("POST", "/v1/me/password", Reply(204))

    # Typed at once, as a person would who was shown no prompt: a CLI that read it would go on.
    run = run_in_terminal(
        *command,
        "--password-stdin",
        env={**cli_env, **AS_ALICE},
        stdin_is_terminal=True,
        typed=typed.encode(),
    )

    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr == (
        "Error: --password-stdin reads from a pipe or a file, and stdin is a terminal, "
        "which would show the password as you type it\n"
        "Leave out --password-stdin to be asked for it without echo, or pipe it in.\n"
    )
    assert daemon.requests == []
