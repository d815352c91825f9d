"""The API client's behaviour, seen through the real executable against a fake daemon."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
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
    ]
}


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
    def slow_refresh(_request):  # type: ignore[no-untyped-def]
        time.sleep(0.5)  # long enough for the second process to hit its 401 meanwhile
        return Reply(200, token_pair("access-2", "refresh-2"))

    daemon.on("GET", "/v1/wallets", expire_access_1)
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
        "Error: refresh token was already used; the session has been revoked\nRun: gopherpay login\n"
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

    result = gopherpay("transfer", "12.34", "USD", "--to", "bob@example.com", "--memo", "lunch")

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
        "--json", "transfer", "12.34", "USD", "--to", "bob@example.com", "--idempotency-key", "k-1"
    )

    assert result.exit_code == 0
    assert json.loads(result.stdout) == transfer()
    assert daemon.seen("POST", "/v1/transfers")[0].headers["idempotency-key"] == "k-1"


def test_each_transfer_invocation_gets_a_new_key(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    gopherpay("transfer", "1", "USD", "--to", "bob@example.com")
    gopherpay("transfer", "1", "USD", "--to", "bob@example.com")

    keys = [r.headers["idempotency-key"] for r in daemon.seen("POST", "/v1/transfers")]
    assert len(keys) == 2 and keys[0] != keys[1]


def test_transfer_gives_up_after_four_attempts_and_says_how_to_retry_safely(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on("POST", "/v1/transfers", DROP)

    result = gopherpay("transfer", "12.34", "USD", "--to", "bob@example.com", "--idempotency-key", "k-9")

    assert result.exit_code == 7
    assert len(daemon.seen("POST", "/v1/transfers")) == 4
    assert result.stderr.startswith(f"Error: Lost the connection to the GopherPay daemon at {daemon.url}")
    assert "(tried 4 times)\n" in result.stderr
    assert result.stderr.endswith(
        "The request may or may not have been carried out. To retry it safely, "
        "run the same command again with --idempotency-key k-9\n"
    )


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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    server = f"http://127.0.0.1:{closed_port}"

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
        (500, "internal_error", 1),
    ],
)
def test_problem_answers_map_to_exit_codes(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], status: int, code: str, exit_code: int
) -> None:
    daemon.on("POST", "/v1/transfers", problem(status, code, f"the daemon says {code}"))

    result = gopherpay("transfer", "1", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == exit_code
    assert result.stderr.startswith(f"Error: the daemon says {code}\n")
    assert len(daemon.seen("POST", "/v1/transfers")) == 1


def test_unknown_recipient_is_told_once_to_ask_them_to_sign_up(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], logged_in: Run
) -> None:
    daemon.on(
        "POST",
        "/v1/transfers",
        problem(404, "recipient_not_found", "no account for bob@example.com; ask them to sign up first"),
    )

    result = gopherpay("transfer", "5", "USD", "--to", "bob@example.com")

    assert result.exit_code == 5
    assert result.stderr == "Error: no account for bob@example.com; ask them to sign up first\n"


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
        "Error: too many failed logins; wait before trying again\n"
        "Too many attempts. Wait 30 seconds before trying again.\n"
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

    result = gopherpay("transfer", "1", "USD", "--to", "bob@example.com")

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: memo: String should have at most 280 characters\n"
        "  memo: String should have at most 280 characters\n"
        "  to_email: value is not a valid email address\n"
    )


def test_commands_needing_a_login_say_how_to_log_in(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    result = gopherpay("balance")

    assert result.exit_code == 3
    assert result.stderr == f"Error: You are not logged in to {daemon.url}\nRun: gopherpay login\n"
    assert daemon.requests == []


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
