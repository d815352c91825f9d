"""The root builds each sub-app on first use, and `gopherpay balance --json` loads little.

The lazy root must offer exactly the commands the sub-app modules define, in the order
`add_typer` would mount them; and the path a script takes to read a balance must not
import the modules that issue 9's start-up target was won by leaving out. No time is
measured here (bench/cli_startup.py does that): a heavy import creeping back onto the
balance path fails the import check instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import typer
from typer._click import Context

from gopherpay_cli.main import COMMAND_WORDS, NAMED_SUB_APPS, SUB_APPS, app
from gopherpay_cli.manpage import walk
from tests.cli.conftest import AS_ALICE, Run
from tests.cli.fake_daemon import FakeDaemon, Reply

WALLETS = {
    "items": [
        {
            "id": "a11ce000-0000-4000-8000-000000000001",
            "currency": "USD",
            "balance": 123456,
            "frozen": False,
            "created_at": "2026-11-26T16:34:27.123456Z",
            "closed_at": None,
        }
    ]
}

KEPT_OFF_THE_BALANCE_PATH = (
    # the other sub-apps, and what only they use
    "gopherpay_cli.commands.admin",
    "gopherpay_cli.commands.fx",
    "gopherpay_cli.commands.api",
    "gopherpay_cli.commands.auth",
    "gopherpay_cli.commands.auth_status",
    "gopherpay_cli.commands.notifications",
    "gopherpay_cli.commands.statements",
    "gopherpay_cli.commands.tokens",
    "gopherpay_cli.commands.transfers",
    "gopherpay_cli.bulk",
    "gopherpay_cli.confirm",
    "gopherpay_cli.follow",
    "gopherpay_cli.manpage",
    "gopherpay_cli.prompts",
    "gopherpay_cli.sse",
    "gopherpay_cli.statement",
    # tables and colour, the keyring (GOPHERPAY_TOKEN is set), jq (no --jq given), the
    # config file's parser (GOPHERPAY_SERVER is set)
    "rich",
    "keyring",
    "jq",
    "tomllib",
    # validation: typer checks plain text without pydantic (gopherpay_cli.helpstyle)
    "pydantic",
    "pydantic_core",
    # httpx's own command line (gopherpay_cli.client keeps it out) and what it would bring
    "httpx._main",
    "click",
    "pygments",
    # the daemon: the CLI uses only its currency table
    "gopherpayd.wallets.models",
    "gopherpayd.settings",
    "sqlmodel",
    "sqlalchemy",
    "fastapi",
)


def eager_root() -> typer.Typer:
    """The root as it was composed before it turned lazy: every sub-app added up front."""
    eager = typer.Typer(rich_markup_mode=None, add_completion=False)
    eager.callback()(lambda: None)
    for module_name in SUB_APPS:
        module = __import__(module_name, fromlist=["app"])
        eager.add_typer(module.app, name=NAMED_SUB_APPS.get(module_name))
    return eager


def test_the_lazy_root_lists_what_the_sub_app_modules_define_in_the_same_order() -> None:
    root = typer.main.get_command(app)
    eager = typer.main.get_command(eager_root())
    ctx = Context(root, info_name="gopherpay")

    assert root.list_commands(ctx) == eager.list_commands(ctx)  # type: ignore[attr-defined]


def test_command_words_are_every_command_name_in_the_tree() -> None:
    root = typer.main.get_command(app)
    names = {ctx.info_name for _command, ctx in walk(root, Context(root, info_name="gopherpay"))}

    assert set(COMMAND_WORDS) == names


def test_looking_up_one_command_builds_only_its_own_sub_app() -> None:
    probe = (
        "import sys, typer\n"
        "from typer._click import Context\n"
        "from gopherpay_cli.main import app\n"
        "root = typer.main.get_command(app)\n"
        "root.get_command(Context(root), 'balance')\n"
        "print(sorted(m for m in sys.modules if m.startswith('gopherpay_cli.commands.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert result.stdout == "['gopherpay_cli.commands.wallets']\n", result.stderr


def test_a_mistyped_command_is_suggested_without_loading_the_sub_apps(
    gopherpay: Callable[..., Run],
) -> None:
    result = gopherpay("balnce")

    assert result.exit_code == 2
    assert "No such command 'balnce'. Did you mean 'balance'?" in result.stderr


def test_balance_json_imports_none_of_the_heavy_modules(daemon: FakeDaemon, cli_env: dict[str, str]) -> None:
    daemon.on("GET", "/v1/wallets", Reply(200, WALLETS))
    # The real command, then the names of every module it loaded, printed at exit.
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(*sorted(n for n, m in sys.modules.items() if m), file=sys.stderr))\n"
        "sys.argv = ['gopherpay', 'balance', '--json']\n"
        "from gopherpay_cli.main import run\n"
        "run()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**cli_env, **AS_ALICE},
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {**WALLETS, "next_cursor": None}
    loaded = set(result.stderr.split())
    assert "gopherpay_cli.commands.wallets" in loaded  # the probe does see what ran
    assert "httpx" in loaded
    assert sorted(loaded.intersection(KEPT_OFF_THE_BALANCE_PATH)) == []


def test_balance_json_shows_its_one_sub_app_in_importtime(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    """`python -X importtime` (how start-up is measured) sees the lazily imported sub-app."""
    daemon.on("GET", "/v1/wallets", Reply(200, WALLETS))

    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gopherpay_cli", "balance", "--json"],
        capture_output=True,
        text=True,
        env={**cli_env, **AS_ALICE},
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "gopherpay_cli.commands.wallets" in imported
    assert "gopherpay_cli.commands.admin" not in imported
