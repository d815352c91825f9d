"""The CLI in shell scripts: no prompts, no passwords in flags, data alone on stdout."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.helpers import UUID, Cli, CliFactory, Operator, details, sign_up, table
from tests.support.daemon import RunningDaemon

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-enough-password"
ESCAPE = "\x1b"


@dataclass
class Scripter:
    """Sally, logged in on a build machine with 50.00 USD; Rick is someone she can pay."""

    cli: Cli
    email: str
    recipient: str

    def api_get(self, path: str) -> object:
        login = self.cli.stored_login()
        assert login is not None
        response = httpx.get(
            f"{self.cli.server}{path}", headers={"Authorization": f"Bearer {login['access_token']}"}
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def scripter(daemon: RunningDaemon, operator: Operator, new_cli: CliFactory) -> Scripter:
    sally: Cli = new_cli(daemon.url, "sally")
    sign_up(sally, "sally@example.com", "Sally Script", PASSWORD)
    sign_up(new_cli(daemon.url, "rick"), "rick@example.com", "Rick Recipient", PASSWORD)
    operator.deposit("sally@example.com", 5000)
    return Scripter(sally, "sally@example.com", "rick@example.com")


def test_no_input_with_a_missing_email_fails_naming_the_flag(
    daemon: RunningDaemon, new_cli: CliFactory
) -> None:
    cli: Cli = new_cli(daemon.url, "ci")

    signup = cli("--no-input", "signup", "--name", "No Email", "--password-stdin", input=f"{PASSWORD}\n")

    assert (signup.returncode, signup.stdout) == (2, "")
    assert signup.stderr_lines == ["Error: --email is required when --no-input is set"]


def test_no_input_without_password_stdin_fails_naming_the_flag(
    daemon: RunningDaemon, new_cli: CliFactory
) -> None:
    cli: Cli = new_cli(daemon.url, "ci")

    login = cli("--no-input", "login", "--email", "sally@example.com")

    assert (login.returncode, login.stdout) == (2, "")
    assert login.stderr_lines == ["Error: --password-stdin is required when --no-input is set"]


@pytest.mark.parametrize("command", ["login", "signup"])
def test_a_password_is_never_accepted_as_a_flag(
    command: str, daemon: RunningDaemon, new_cli: CliFactory
) -> None:
    cli: Cli = new_cli(daemon.url, "ci")

    refused = cli(command, "--email", "sally@example.com", "--password", PASSWORD)

    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr_lines == [
        f"Usage: gopherpay {command} [OPTIONS]",
        f"Try 'gopherpay {command} --help' for help.",
        "",
        "Error: No such option: --password (Possible options: --password-stdin)",
    ]
    assert cli.stored_login() is None


def test_quiet_prints_no_messages_but_still_the_result(scripter: Scripter) -> None:
    opened = scripter.cli("--quiet", "wallets", "open", "EUR")
    sent = scripter.cli(
        "--quiet", "transfer", "--yes", "1.00", "USD", "--to", scripter.recipient, "--memo", "quiet"
    )

    assert (opened.returncode, opened.stdout, opened.stderr) == (0, "", "")
    assert (sent.returncode, sent.stderr) == (0, ""), sent.transcript()
    shown = details(sent.stdout)
    assert re.fullmatch(UUID, shown["Transfer"])
    assert (shown["Amount"], shown["To"], shown["Memo"]) == ("1.00 USD", scripter.recipient, "quiet")


def test_quiet_still_reports_errors(scripter: Scripter) -> None:
    refused = scripter.cli("--quiet", "transfer", "--yes", "1,000,000.00", "USD", "--to", scripter.recipient)

    assert (refused.returncode, refused.stdout) == (4, "")
    assert re.fullmatch(
        r"Error: Your USD wallet has [\d,.]+ USD; the transfer needs 1,000,000\.00 USD",
        refused.stderr_lines[0],
    ), refused.stderr
    assert refused.stderr_lines[1:] == ["Check your balance: gopherpay balance USD"]


def test_json_prints_the_api_objects_and_nothing_else_on_stdout(scripter: Scripter) -> None:
    for command, path in [
        (["whoami"], "/v1/me"),
        (["balance", "USD"], "/v1/wallets/USD"),
        (["wallets", "list"], "/v1/wallets"),
        (["history", "--limit", "5"], "/v1/transfers?limit=5"),
    ]:
        run = scripter.cli("--json", *command)
        assert (run.returncode, run.stderr) == (0, ""), run.transcript()
        assert run.json() == scripter.api_get(path), run.transcript()

    sent = scripter.cli("--json", "transfer", "--yes", "2.50", "USD", "--to", scripter.recipient)

    assert sent.returncode == 0, sent.transcript()
    transfer = sent.json()
    assert transfer == scripter.api_get(f"/v1/transfers/{transfer['id']}")
    assert (transfer["amount"], transfer["currency"], transfer["recipient"]["email"]) == (
        250, "USD", scripter.recipient,
    )  # fmt: skip
    assert sent.stderr_lines == [f"Sent 2.50 USD to {scripter.recipient} (transfer {transfer['id']})"]


def test_json_errors_go_to_stderr_and_leave_stdout_empty(scripter: Scripter) -> None:
    missing = scripter.cli("--json", "transfer", "--yes", "1.00", "USD", "--to", "nobody@example.com")

    assert (missing.returncode, missing.stdout) == (5, "")
    # With --json the error is the daemon's problem document, one line of JSON on stderr.
    problem = httpx.Response(200, content=missing.stderr).json()
    assert (problem["code"], problem["status"], problem["exit_code"]) == ("recipient_not_found", 404, 5)
    assert problem["detail"] == "no account for nobody@example.com; ask them to sign up first"
    assert missing.stderr_lines == [missing.stderr.strip()]


def test_no_colour_escape_codes_when_output_is_not_a_terminal(scripter: Scripter) -> None:
    # A colour-capable terminal type and no NO_COLOR: only the pipe says "no colour".
    colourful = {"NO_COLOR": "", "TERM": "xterm-256color"}

    runs = [
        scripter.cli("balance", **colourful),
        scripter.cli("history", **colourful),
        scripter.cli("whoami", **colourful),
        scripter.cli("transfer", "--yes", "1.00", "USD", "--to", "nobody@example.com", **colourful),
    ]

    assert [run.returncode for run in runs] == [0, 0, 0, 5]
    assert table(runs[0].stdout)[0] == ["currency", "balance", "held", "available", "frozen", "wallet id"]
    assert runs[3].stderr_lines[0].startswith("Error: No account for nobody@example.com")
    for run in runs:
        assert ESCAPE not in run.stdout + run.stderr, run.transcript()
