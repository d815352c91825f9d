"""`--help` of every command, `--version`, and the exit-code table, from the real executable."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest
import typer
from typer._click import Context

from gopherpay_cli.errors import EXIT_STATUS, ExitCode
from gopherpay_cli.main import app
from gopherpay_cli.manpage import walk


def gopherpay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gopherpay_cli", *args], capture_output=True, text=True, timeout=60
    )


def command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-app below the root, found by walking the click tree."""
    root = typer.main.get_command(app)
    return [
        tuple(ctx.command_path.split()[1:])
        for _command, ctx in walk(root, Context(root, info_name="gopherpay"))
    ]


def test_the_tree_has_every_documented_command() -> None:
    assert set(command_paths()) >= {
        ("signup",),
        ("login",),
        ("logout",),
        ("whoami",),
        ("verify",),
        ("sessions", "list"),
        ("sessions", "revoke"),
        ("password", "change"),
        ("wallets", "list"),
        ("wallets", "open"),
        ("wallets", "close"),
        ("balance",),
        ("transfer",),
        ("history",),
        ("notifications",),
        ("notifications", "list"),
        ("notifications", "read"),
        ("admin", "users"),
        ("admin", "deposit"),
        ("admin", "withdraw"),
        ("admin", "freeze"),
        ("admin", "unfreeze"),
        ("admin", "reverse"),
        ("admin", "audit"),
        ("admin", "log"),
        ("admin", "events", "status"),
        ("admin", "events", "dead-letters"),
        ("admin", "events", "replay"),
    }


@pytest.mark.parametrize("path", [(), *command_paths()], ids=lambda path: " ".join(path) or "gopherpay")
def test_help_works_for(path: tuple[str, ...]) -> None:
    result = gopherpay(*path, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {' '.join(('gopherpay', *path))} ")
    assert result.stderr == ""


def test_root_help_documents_every_exit_code() -> None:
    result = gopherpay("--help")

    assert "Exit status:\n" in result.stdout
    for code, meaning in EXIT_STATUS:
        assert f"  {int(code)}  {meaning}\n" in result.stdout
    assert [int(code) for code, _meaning in EXIT_STATUS] == [int(code) for code in ExitCode]


def test_version_prints_the_installed_version() -> None:
    result = gopherpay("--version")

    assert result.returncode == 0
    assert result.stdout == f"gopherpay {version('gopherpay')}\n"


def test_help_does_not_load_httpx_rich_or_keyring() -> None:
    probe = (
        "import sys\n"
        "from gopherpay_cli.main import app\n"
        "try:\n"
        "    app(['--help'], prog_name='gopherpay')\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [name for name in ('httpx', 'rich', 'keyring') if name in sys.modules]\n"
        "print(loaded, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert result.stdout.startswith("Usage: gopherpay ")
    assert result.stderr == "[]\n"
