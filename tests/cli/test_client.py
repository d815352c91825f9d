"""The API client's behaviour, seen through the real executable against a fake daemon."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import AS_ALICE, TRANSFER_ID, Run, token_pair, transfer
from tests.cli.fake_daemon import DROP, FakeDaemon, Reply, in_turn, problem

WALLETS = {
    "items": [
        {
            "id": "w1",
            "currency": "USD",
            "balance": 1234,
            "frozen": False,
            "created_at": "2026-11-26T16:34:27Z",
            "closed_at": None,
        }
    ],
    "next_cursor": None,
}


MAYBE_DONE = (
    "The request may or may not have been carried out. To retry it safely "
    "(the daemon does it at most once per key), run:"
)
SHORT_TIMEOUT = 1.5
"""The request timeout of `gopherpay_with_timeout`: short, yet far above a local answer's time."""


@pytest.fixture
def gopherpay_with_timeout(cli_env: dict[str, str]) -> Callable[..., Run]:
    """The real CLI with its request timeout cut from 15 s to SHORT_TIMEOUT, so a test can outwait it."""

    def run(*args: str, env: dict[str, str] | None = None) -> Run:
        program = (
            f"import gopherpay_cli.client; gopherpay_cli.client.REQUEST_TIMEOUT = {SHORT_TIMEOUT}; "
            "from gopherpay_cli.main import run; run()"
        )
        completed = subprocess.run(
            [sys.executable, "-c", program, *args],
            capture_output=True,
            text=True,
            env={**cli_env, **(env or {})},
            timeout=60,
        )
        return Run(completed.returncode, completed.stdout, completed.stderr)

    return run


def sent_keys(daemon: FakeDaemon) -> list[str]:
    """The Idempotency-Key of each POST /v1/transfers the daemon saw, in order."""
    return [r.headers["idempotency-key"] for r in daemon.seen("POST", "/v1/transfers")]


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def stored_credentials(home: Path, daemon: FakeDaemon) -> dict[str, str]:
    entries = json.loads((home / "config" / "gopherpay" / "credentials.json").read_text())
    return entries[daemon.url]


def expire_access_1(request):  # type: ignore[no-untyped-def]
    if request.headers.get("authorization") == "Bearer access-1":
        return problem(401, "token_expired", "access token has expired; refresh it or log in again")
    return Reply(200, WALLETS)


def test_expired_access_token_is_refreshed_and_the_request_sent_again(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("GET", "/v1/wallets", expire_access_1)
    daemon.on("POST", "/v1/auth/refresh", Reply(200, token_pair("access-2", "refresh-2")))

    result = gopherpay("--json", "balance")

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout) == WALLETS
    assert [(r.method, r.path, r.headers.get("authorization")) for r in daemon.requests] == [
        ("GET", "/v1/wallets", "Bearer access-1"),
        ("POST", "/v1/auth/refresh", None),
        ("GET", "/v1/wallets", "Bearer access-2"),
    ]
    assert daemon.seen("POST", "/v1/auth/refresh")[0].body == {"refresh_token": "refresh-1"}


def test_refreshed_tokens_replace_the_stored_ones(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run, home: Path
) -> None:
    daemon.on("GET", "/v1/wallets", expire_access_1)
    daemon.on("POST", "/v1/auth/refresh", Reply(200, token_pair("access-2", "refresh-2")))

    gopherpay("--json", "balance")

    stored = stored_credentials(home, daemon)
    assert (stored["access_token"], stored["refresh_token"]) == ("access-2", "refresh-2")


def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(
    daemon: FakeDaemon, cli_env: dict[str, str], logged_in: Run
) -> None:
    both_refused = threading.Event()
    refused: list[object] = []

    def count_refusals(request):  # type: ignore[no-untyped-def]
        reply = expire_access_1(request)
        if reply.status == 401:
            refused.append(request)
            if len(refused) == 2:
                both_refused.set()
        return reply

    def slow_refresh(_request):  # type: ignore[no-untyped-def]
        # Answer only once the second process has had its 401 too, so both refresh at once.
        both_refused.wait(timeout=30)
        return Reply(200, token_pair("access-2", "refresh-2"))

    daemon.on("GET", "/v1/wallets", count_refusals)
    daemon.on("POST", "/v1/auth/refresh", slow_refresh)
    command = [sys.executable, "-m", "gopherpay_cli", "--json", "balance"]

    processes = [
        subprocess.Popen(command, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"
    ]
    exit_codes = [process.wait(timeout=60) for process in processes]

    assert exit_codes == [0, 0]
    assert len(daemon.seen("POST", "/v1/auth/refresh")) == 1
    assert sorted(r.headers["authorization"] for r in daemon.seen("GET", "/v1/wallets")) == [
        "Bearer access-1",
        "Bearer access-1",
        "Bearer access-2",
        "Bearer access-2",
    ]


def test_a_refused_refresh_asks_to_log_in_again(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("GET", "/v1/wallets", expire_access_1)
    daemon.on(
        "POST",
        "/v1/auth/refresh",
        problem(401, "refresh_token_reused", "refresh token was already used; the session has been revoked"),
    )

    result = gopherpay("balance")

    assert result.exit_code == 3
    assert result.stderr == (
        "Error: Refresh token was already used; the session has been revoked\nRun: gopherpay login\n"
    )


def test_gopherpay_token_is_sent_as_is_and_never_refreshed(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/wallets", problem(401, "token_expired", "access token has expired"))

    result = gopherpay("balance", env={"GOPHERPAY_TOKEN": "from-ci"})

    assert result.exit_code == 3
    assert [(r.path, r.headers.get("authorization")) for r in daemon.requests] == [
        ("/v1/wallets", "Bearer from-ci")
    ]


def test_transfer_is_sent_again_with_the_same_key_after_the_connection_drops(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("POST", "/v1/transfers", in_turn([DROP, Reply(201, transfer())]))

    result = gopherpay("transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", "--memo", "lunch")

    assert result.exit_code == 0, result.stderr
    attempts = daemon.seen("POST", "/v1/transfers")
    assert len(attempts) == 2
    keys = {attempt.headers["idempotency-key"] for attempt in attempts}
    assert len(keys) == 1
    assert (
        attempts[0].body
        == attempts[1].body
        == {
            "amount": 1234,
            "currency": "USD",
            "to_email": "bob@example.com",
            "memo": "lunch",
        }
    )
    assert result.stderr == f"Sent 12.34 USD to bob@example.com (transfer {TRANSFER_ID})\n"


def test_a_replayed_transfer_is_printed_like_a_new_one(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer(), {"Idempotency-Replayed": "true"}))

    result = gopherpay(
        "--json", "transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", "--idempotency-key", "k-1"
    )

    assert result.exit_code == 0
    assert json.loads(result.stdout) == transfer()
    assert daemon.seen("POST", "/v1/transfers")[0].headers["idempotency-key"] == "k-1"


def test_each_transfer_invocation_gets_a_new_key(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    gopherpay("transfer", "--yes", "1", "USD", "--to", "bob@example.com")
    gopherpay("transfer", "--yes", "1", "USD", "--to", "bob@example.com")

    keys = [r.headers["idempotency-key"] for r in daemon.seen("POST", "/v1/transfers")]
    assert len(keys) == 2 and keys[0] != keys[1]


def test_transfer_gives_up_after_four_attempts_and_says_how_to_retry_safely(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("POST", "/v1/transfers", DROP)

    result = gopherpay(
        "transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", "--idempotency-key", "k-9"
    )

    assert result.exit_code == 7
    assert len(daemon.seen("POST", "/v1/transfers")) == 4
    assert result.stderr == (
        f"Error: Lost the connection to the GopherPay daemon at {daemon.url}: "
        "Server disconnected without sending a response. (tried 4 times)\n"
        f"{MAYBE_DONE}\n"
        "  gopherpay transfer --yes 12.34 USD --to bob@example.com --idempotency-key k-9\n"
    )


def test_transfer_is_sent_again_with_the_same_key_after_a_500(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on(
        "POST",
        "/v1/transfers",
        in_turn([problem(500, "internal_error", "unexpected error"), Reply(201, transfer())]),
    )

    result = gopherpay("transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"Sent 12.34 USD to bob@example.com (transfer {TRANSFER_ID})\n"
    assert len(sent_keys(daemon)) == 2 and len(set(sent_keys(daemon))) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (problem(500, "internal_error", "unexpected error"), "Unexpected error"),
        (Reply(502), "The daemon answered 502 Bad Gateway"),
        (problem(503, "unavailable", "the database is not answering"), "The database is not answering"),
        (Reply(504), "The daemon answered 504 Gateway Timeout"),
    ],
    ids=["500", "502", "503", "504"],
)
def test_transfer_gives_up_on_a_5xx_after_four_attempts_with_one_key_and_prints_the_retry(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], answer: Reply, error: str
) -> None:
    daemon.on("POST", "/v1/transfers", answer)

    result = gopherpay("transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE)

    keys = sent_keys(daemon)
    assert len(keys) == 4 and len(set(keys)) == 1
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {error} (tried 4 times)\n"
        f"{MAYBE_DONE}\n"
        f"  gopherpay transfer --yes 12.34 USD --to bob@example.com --idempotency-key {keys[0]}\n"
    )


@pytest.mark.parametrize("given", [["--idempotency-key", "k-9"], ["--idempotency-key=k-9"]])
def test_the_retry_command_replaces_the_given_key_and_keeps_the_global_options(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], given: list[str]
) -> None:
    daemon.on("POST", "/v1/transfers", problem(500, "internal_error", "unexpected error"))

    result = gopherpay(
        "--server", daemon.url, "--profile", "work", "transfer", "--yes", "12.34", "USD", *given,
        "--to", "bob@example.com", "--memo", "rent for may", env=AS_ALICE,
    )  # fmt: skip

    assert result.exit_code == 1
    assert sent_keys(daemon) == ["k-9"] * 4
    assert result.stderr.splitlines()[-1] == (
        f"  gopherpay --server {daemon.url} --profile work transfer --yes 12.34 USD "
        "--to bob@example.com --memo 'rent for may' --idempotency-key k-9"
    )


def test_the_retry_command_read_by_bash_is_the_same_command_even_with_quotes_and_control_characters(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", problem(500, "internal_error", "unexpected error"))
    memo = 'it\'s "mine"\n$HOME `id` \\ \x1b[31m \u202eevil\u202c \u00e9t\u00e9 \U0001f600'
    args = ["transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", "--memo", memo]

    result = gopherpay(*args, env=AS_ALICE)

    assert result.exit_code == 1
    command = result.stderr.splitlines()[-1].removeprefix("  ")
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    words = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {command}"], capture_output=True, text=True, check=True
    ).stdout.split("\0")[:-1]
    assert words == ["gopherpay", *args, "--idempotency-key", sent_keys(daemon)[0]]


def test_a_read_timeout_is_retried_with_the_same_key(
    daemon: FakeDaemon, gopherpay_with_timeout: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", in_turn([Reply(201, transfer(), delay=60), Reply(201, transfer())]))

    result = gopherpay_with_timeout(
        "transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE
    )

    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"Sent 12.34 USD to bob@example.com (transfer {TRANSFER_ID})\n"
    keys = sent_keys(daemon)
    assert len(keys) == 2 and len(set(keys)) == 1


@pytest.mark.slow
def test_a_daemon_slower_than_the_read_timeout_every_time_gets_the_retry_command(
    daemon: FakeDaemon, gopherpay_with_timeout: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer(), delay=60))

    result = gopherpay_with_timeout(
        "transfer",
        "--yes",
        "12.34",
        "USD",
        "--to",
        "bob@example.com",
        "--idempotency-key",
        "k-9",
        env=AS_ALICE,
    )

    assert sent_keys(daemon) == ["k-9"] * 4
    assert (result.exit_code, result.stdout) == (7, "")
    assert result.stderr == (
        f"Error: The GopherPay daemon at {daemon.url} did not answer in time (tried 4 times)\n"
        f"{MAYBE_DONE}\n"
        "  gopherpay transfer --yes 12.34 USD --to bob@example.com --idempotency-key k-9\n"
    )


def test_a_transfer_refused_at_every_connection_says_nothing_was_sent(
    gopherpay: Callable[..., Run],
) -> None:
    server = f"http://127.0.0.1:{closed_port()}"

    result = gopherpay(
        "--server", server, "transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE
    )

    assert (result.exit_code, result.stdout) == (7, "")
    assert result.stderr == (
        f"Error: Cannot reach the GopherPay daemon at {server}: [Errno 111] Connection refused "
        "(tried 4 times)\n"
        "Nothing was sent, so nothing was done: once the daemon is reachable, run the command again.\n"
        "Is the daemon running (gopherpayd serve)? Point the CLI at it with --server or GOPHERPAY_SERVER.\n"
    )


def test_a_transfer_lost_once_and_then_refused_may_have_been_done_and_gets_the_retry_command(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    # The daemon goes down while working on the first attempt; the resends are refused.
    daemon.on("POST", "/v1/transfers", Reply(drop=True, stop_listening=True))

    result = gopherpay(
        "transfer",
        "--yes",
        "12.34",
        "USD",
        "--to",
        "bob@example.com",
        "--idempotency-key",
        "k-9",
        env=AS_ALICE,
    )

    assert sent_keys(daemon) == ["k-9"]
    assert (result.exit_code, result.stdout) == (7, "")
    assert result.stderr == (
        f"Error: Cannot reach the GopherPay daemon at {daemon.url}: [Errno 111] Connection refused "
        "(tried 4 times)\n"
        f"{MAYBE_DONE}\n"
        "  gopherpay transfer --yes 12.34 USD --to bob@example.com --idempotency-key k-9\n"
    )


def test_a_resend_that_finds_the_first_attempt_still_in_progress_waits_for_it(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    in_progress = problem(409, "idempotency_request_in_progress", "a request with this key is in progress")
    daemon.on("POST", "/v1/transfers", in_turn([Reply(502), in_progress, Reply(201, transfer())]))

    result = gopherpay("transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    keys = sent_keys(daemon)
    assert len(keys) == 3 and len(set(keys)) == 1


def test_admin_deposit_is_retried_after_a_503_and_gets_its_own_retry_command(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/admin/deposits", problem(503, "unavailable", "the database is not answering"))

    result = gopherpay(
        "admin",
        "deposit",
        "--yes",
        "alice@example.com",
        "10",
        "USD",
        "--reason",
        "cash at the desk",
        env=AS_ALICE,
    )

    keys = [r.headers["idempotency-key"] for r in daemon.seen("POST", "/v1/admin/deposits")]
    assert len(keys) == 4 and len(set(keys)) == 1
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "  gopherpay admin deposit --yes alice@example.com 10 USD --reason 'cash at the desk' "
        f"--idempotency-key {keys[0]}"
    )


def test_a_read_is_not_sent_again_after_a_500(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/wallets", problem(500, "internal_error", "unexpected error"))

    result = gopherpay("balance", env=AS_ALICE)

    assert (result.exit_code, result.stderr) == (1, "Error: Unexpected error\n")
    assert len(daemon.seen("GET", "/v1/wallets")) == 1


def test_a_read_is_not_sent_again_after_the_connection_drops(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("GET", "/v1/wallets", DROP)

    result = gopherpay("balance")

    assert result.exit_code == 7
    assert len(daemon.seen("GET", "/v1/wallets")) == 1


def test_unreachable_daemon_exits_7_with_a_clear_message(
    gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    server = f"http://127.0.0.1:{closed_port()}"

    result = gopherpay("--server", server, "balance", env={"GOPHERPAY_TOKEN": "t"})

    assert result.exit_code == 7
    assert result.stderr.startswith(f"Error: Cannot reach the GopherPay daemon at {server}: ")
    assert result.stderr.endswith(
        "Is the daemon running (gopherpayd serve)? Point the CLI at it with --server or GOPHERPAY_SERVER.\n"
    )


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (400, "bad_request", 2),
        (422, "validation_error", 2),
        (401, "session_revoked", 3),
        (403, "forbidden", 3),
        (429, "too_many_attempts", 3),
        (409, "insufficient_funds", 4),
        (403, "account_frozen", 4),
        (409, "wallet_frozen", 4),
        (400, "self_transfer", 4),
        (400, "unsupported_currency", 4),
        (404, "recipient_not_found", 5),
        (404, "not_found", 5),
        (409, "idempotency_key_reused", 6),
        (409, "idempotency_request_in_progress", 6),
        (501, "not_implemented", 1),
    ],
)
def test_problem_answers_map_to_exit_codes(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], status: int, code: str, exit_code: int
) -> None:
    daemon.on("POST", "/v1/transfers", problem(status, code, f"the daemon says {code}"))

    result = gopherpay("transfer", "--yes", "1", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == exit_code
    assert result.stderr.startswith(f"Error: The daemon says {code}\n")
    assert len(daemon.seen("POST", "/v1/transfers")) == 1


def test_unknown_recipient_is_told_once_to_ask_them_to_sign_up(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on(
        "POST",
        "/v1/transfers",
        problem(404, "recipient_not_found", "no account for bob@example.com; ask them to sign up first"),
    )

    result = gopherpay("transfer", "--yes", "5", "USD", "--to", "bob@example.com")

    assert result.exit_code == 5
    assert result.stderr == "Error: No account for bob@example.com; ask them to sign up first\n"


def test_too_many_login_attempts_says_how_long_to_wait(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on(
        "POST",
        "/v1/auth/login",
        problem(429, "too_many_attempts", "too many failed logins; wait before trying again", retry_after=30),
    )

    result = gopherpay("login", "--email", "alice@example.com", "--password-stdin", stdin="wrong\n")

    assert result.exit_code == 3
    assert result.stderr == (
        "Error: Too many failed logins; wait before trying again\nWait 30 seconds before trying again.\n"
    )


def test_validation_errors_list_each_field_without_the_input(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    errors = [
        {"loc": ["body", "memo"], "msg": "String should have at most 280 characters", "type": "x"},
        {"loc": ["body", "to_email"], "msg": "value is not a valid email address", "type": "y"},
    ]
    daemon.on(
        "POST",
        "/v1/transfers",
        problem(422, "validation_error", "memo: String should have at most 280 characters", errors=errors),
    )

    result = gopherpay("transfer", "--yes", "1", "USD", "--to", "bob@example.com")

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: Memo: String should have at most 280 characters\n"
        "  memo: String should have at most 280 characters\n"
        "  to_email: value is not a valid email address\n"
    )


def test_commands_needing_a_login_say_how_to_log_in(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    result = gopherpay("balance")

    assert result.exit_code == 3
    assert result.stderr == f"Error: You are not logged in to {daemon.url}\nRun: gopherpay login\n"
    assert [(r.method, r.path) for r in daemon.requests] == [("GET", "/healthz")]  # is it there at all?


def test_not_logged_in_to_an_unreachable_server_says_unreachable_exit_7(
    gopherpay: Callable[..., Run],
) -> None:
    result = gopherpay("--server", "http://127.0.0.1:9", "balance")

    assert result.exit_code == 7
    assert result.stderr.startswith("Error: Cannot reach the GopherPay daemon at http://127.0.0.1:9: ")
    assert "not logged in" not in result.stderr


def test_hints_carry_the_profile_and_server_typed(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("--server", daemon.url, "--profile", "bob", "balance")

    assert result.exit_code == 3
    assert result.stderr.splitlines()[1] == f"Run: gopherpay --server {daemon.url} --profile bob login"


@pytest.fixture
def tls_daemon(tmp_path: Path) -> Iterator[tuple[FakeDaemon, Path]]:
    """A fake daemon serving HTTPS with a self-signed certificate for 127.0.0.1."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    fake = FakeDaemon(tls=context)
    fake.on("GET", "/v1/wallets", Reply(200, WALLETS))
    fake.start()
    yield fake, cert
    fake.stop()


def test_an_untrusted_certificate_is_refused_with_a_hint(
    tls_daemon: tuple[FakeDaemon, Path], gopherpay: Callable[..., Run]
) -> None:
    fake, _cert = tls_daemon

    result = gopherpay("--server", fake.url, "balance", env=AS_ALICE)

    assert result.exit_code == 7
    assert result.stderr.startswith(f"Error: Cannot verify the TLS certificate of {fake.url}: ")
    assert result.stderr.endswith(
        "If the daemon uses a private CA, pass --ca-bundle PATH (or set GOPHERPAY_CA_BUNDLE).\n"
    )
    assert fake.requests == []


def test_ca_bundle_makes_a_private_certificate_trusted(
    tls_daemon: tuple[FakeDaemon, Path], gopherpay: Callable[..., Run]
) -> None:
    fake, cert = tls_daemon

    result = gopherpay("--server", fake.url, "--ca-bundle", str(cert), "--json", "balance", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == WALLETS


def test_a_command_in_the_message_and_the_hint_is_said_once_with_the_profile(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    detail = (
        "verify bob@example.com before sending money: gopherpay verify CODE (or gopherpay verify --resend)"
    )
    daemon.on("POST", "/v1/transfers", problem(403, "email_not_verified", detail))

    result = gopherpay(
        "--profile", "bob", "transfer", "--yes", "1", "USD", "--to", "alice@example.com", env=AS_ALICE
    )

    assert result.exit_code == 4
    assert result.stderr == (
        "Error: Verify bob@example.com before sending money\n"
        "Verify your email first: gopherpay --profile bob verify CODE "
        "(or gopherpay --profile bob verify --resend)\n"
    )
