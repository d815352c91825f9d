"""tokens, api, auth status and completion, through the real executable and a fake daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cli.conftest import AS_ALICE, PASSWORD, Run, token_pair, user
from tests.cli.fake_daemon import FakeDaemon, Reply, problem

TOKEN_ID = "6b1f2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"
SECRET = "gpt_" + "s3cr3t" * 7 + "x"


def api_token(**extra: Any) -> dict[str, Any]:
    return {
        "id": TOKEN_ID,
        "name": "ci",
        "scope": "read",
        "prefix": SECRET[:12],
        "created_at": "2026-12-02T10:00:00Z",
        "expires_at": "2027-03-02T10:00:00Z",
        "last_used_at": None,
        "revoked_at": None,
        **extra,
    }


def test_tokens_create_prints_the_token_once_on_stdout_and_sends_the_lifetime(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/tokens", Reply(201, api_token(token=SECRET)))

    result = gopherpay(
        "tokens", "create", "--name", "ci", "--scope", "read", "--expires", "12w", env=AS_ALICE
    )

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{SECRET}\n"
    assert SECRET not in result.stderr
    assert "shown only now" in result.stderr
    assert daemon.seen("POST", "/v1/tokens")[0].body == {"name": "ci", "scope": "read", "expires_in_days": 84}


def test_tokens_create_never_and_a_bad_lifetime(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/tokens", Reply(201, api_token(token=SECRET, expires_at=None)))

    never = gopherpay(
        "tokens", "create", "--name", "ci", "--scope", "transfer", "--expires", "never", env=AS_ALICE
    )
    bad = gopherpay(
        "tokens", "create", "--name", "ci", "--scope", "read", "--expires", "90 days", env=AS_ALICE
    )
    bad_scope = gopherpay("tokens", "create", "--name", "ci", "--scope", "admin", env=AS_ALICE)

    assert never.exit_code == 0, never.stderr
    assert daemon.seen("POST", "/v1/tokens")[0].body["expires_in_days"] is None
    assert bad.exit_code == 2
    assert "--expires takes a lifetime like 30d, 12w or 1y" in bad.stderr
    assert bad_scope.exit_code == 2
    assert len(daemon.seen("POST", "/v1/tokens")) == 1


def test_tokens_list_shows_no_secret_and_revoke_says_which(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/tokens", Reply(200, {"items": [api_token()], "next_cursor": None}))
    daemon.on("DELETE", f"/v1/tokens/{TOKEN_ID}", Reply(200, api_token(revoked_at="2026-12-02T11:00:00Z")))

    listed = gopherpay("tokens", "list", env=AS_ALICE)
    revoked = gopherpay("tokens", "revoke", TOKEN_ID, env=AS_ALICE)

    assert listed.exit_code == 0, listed.stderr
    assert f"{SECRET[:12]}…" in listed.stdout and TOKEN_ID in listed.stdout
    assert SECRET not in listed.stdout
    assert revoked.stderr == f"Revoked the token 'ci' ({SECRET[:12]}…).\n"


def test_an_api_token_in_gopherpay_token_is_sent_as_is_and_never_refreshed(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on(
        "POST", "/v1/transfers", problem(403, "insufficient_scope", "API token 'ci' has the read scope")
    )

    result = gopherpay(
        "--json",
        "transfer",
        "--yes",
        "1.00",
        "USD",
        "--to",
        "bob@example.com",
        env={"GOPHERPAY_TOKEN": SECRET},
    )

    assert result.exit_code == 3
    assert json.loads(result.stderr)["code"] == "insufficient_scope"
    assert daemon.seen("POST", "/v1/transfers")[0].headers["authorization"] == f"Bearer {SECRET}"
    assert daemon.seen("POST", "/v1/auth/refresh") == []


def test_api_get_sends_fields_as_the_query_and_prints_the_answer(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, {"items": [{"id": "t-1"}], "next_cursor": None}))

    result = gopherpay(
        "api", "GET", "/v1/transfers", "--field", "limit=5", "-f", "currency=USD", env=AS_ALICE
    )
    filtered = gopherpay("api", "GET", "/v1/transfers", "--jq", ".items[].id", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"items": [{"id": "t-1"}], "next_cursor": None}
    assert daemon.seen("GET", "/v1/transfers")[0].query == {"limit": "5", "currency": "USD"}
    assert filtered.stdout == "t-1\n"


def test_api_post_sends_a_typed_json_body_with_an_idempotency_key(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/wallets", Reply(201, {"id": "w-1", "currency": "EUR"}))

    result = gopherpay(
        "api", "POST", "/v1/wallets", "-F", "currency=EUR", "-F", "n=3", "-F", "ok=true", "-f", "code=007",
        env=AS_ALICE,
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    sent = daemon.seen("POST", "/v1/wallets")[0]
    assert sent.body == {"currency": "EUR", "n": 3, "ok": True, "code": "007"}
    assert len(sent.headers["idempotency-key"]) == 36


def test_api_error_answers_keep_their_exit_code_and_a_bad_field_is_a_usage_error(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/wallets/XYZ", problem(404, "wallet_not_found", "no XYZ wallet"))

    missing = gopherpay("api", "GET", "/v1/wallets/XYZ", env=AS_ALICE)
    bad_field = gopherpay("api", "POST", "/v1/wallets", "--field", "currency", env=AS_ALICE)
    bad_path = gopherpay("api", "GET", "v1/me", env=AS_ALICE)

    assert missing.exit_code == 5
    assert missing.stderr.startswith("Error: No XYZ wallet\n")
    assert (bad_field.exit_code, bad_path.exit_code) == (2, 2)
    assert daemon.seen("POST", "/v1/wallets") == []


def test_auth_status_says_who_where_and_from_which_store(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], home: Path
) -> None:
    daemon.on("POST", "/v1/auth/login", Reply(200, token_pair()))
    daemon.on("GET", "/v1/me", Reply(200, user()))
    login = gopherpay("login", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert login.exit_code == 0, login.stderr

    status = gopherpay("auth", "status")
    as_json = gopherpay("auth", "status", "--json")
    from_env = gopherpay("auth", "status", "--json", env={"GOPHERPAY_TOKEN": SECRET})

    credentials = home / "config" / "gopherpay" / "credentials.json"
    assert status.exit_code == 0, status.stderr
    # Not a terminal: `field<TAB>value` lines.
    assert f"Server\t{daemon.url}" in status.stdout
    assert "Logged in as\talice@example.com (Alice Liddell, user)" in status.stdout
    assert f"Token from\t{credentials} (mode 0600; no usable keyring backend)" in status.stdout
    document = json.loads(as_json.stdout)
    assert (document["server"], document["token_source"], document["user"]["email"]) == (
        daemon.url,
        "file",
        "alice@example.com",
    )
    assert json.loads(from_env.stdout)["token_source"] == "environment"
    for run in (status, as_json, from_env):
        assert "access-1" not in run.stdout + run.stderr and SECRET not in run.stdout + run.stderr


def test_auth_status_when_not_logged_in_exits_3(gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("auth", "status")

    assert result.exit_code == 3
    assert result.stderr.startswith("Error: You are not logged in to ")


def test_the_keyring_fallback_notice_prints_once_not_at_every_login(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/auth/login", Reply(200, token_pair()))
    daemon.on("POST", "/v1/auth/logout", Reply(204))

    logins = []
    for _ in range(2):
        logins.append(
            gopherpay("login", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD + "\n")
        )
        gopherpay("logout")

    assert "No usable keyring backend" in logins[0].stderr
    assert "No usable keyring backend" not in logins[1].stderr
    assert logins[1].exit_code == 0


def complete(cli_env: dict[str, str], shell_env: dict[str, str]) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "gopherpay_cli"],
        capture_output=True,
        text=True,
        env={**cli_env, **shell_env},
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_completion_scripts_for_bash_zsh_and_fish(gopherpay: Callable[..., Run]) -> None:
    bash, zsh, fish = (gopherpay("completion", shell) for shell in ("bash", "zsh", "fish"))
    other = gopherpay("completion", "tcsh")

    assert "complete -o default -F _gopherpay_completion gopherpay" in bash.stdout
    assert zsh.stdout.startswith("#compdef gopherpay")
    assert fish.stdout.startswith("complete --command gopherpay")
    assert "_GOPHERPAY_COMPLETE" in bash.stdout + zsh.stdout + fish.stdout
    assert other.exit_code == 2


def test_bash_completion_offers_subcommands_and_currency_codes(cli_env: dict[str, str]) -> None:
    def bash(words: str) -> list[str]:
        cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        env = {"_GOPHERPAY_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
        return complete(cli_env, env).split()

    assert bash("gopherpay tok") == ["tokens"]
    assert bash("gopherpay tokens ") == ["create", "list", "revoke"]
    assert bash("gopherpay wallets open e") == ["EUR"]
    assert bash("gopherpay history --currency u") == ["USD"]


def test_zsh_and_fish_completion_offer_currency_codes(cli_env: dict[str, str]) -> None:
    zsh = complete(
        cli_env, {"_GOPHERPAY_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "gopherpay balance J"}
    )
    fish = complete(
        cli_env,
        {
            "_GOPHERPAY_COMPLETE": "complete_fish",
            "_TYPER_COMPLETE_FISH_ACTION": "get-args",
            "_TYPER_COMPLETE_ARGS": "gopherpay admin deposit bob@example.com 1 j",
        },
    )

    assert '"JOD"' in zsh and '"JPY"' in zsh and '"USD"' not in zsh
    assert fish.split() == ["JOD", "JPY"]
    assert os.environ.get("_GOPHERPAY_COMPLETE") is None
