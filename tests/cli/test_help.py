"""`--help` of every command, `--version`, and the exit-code table, from the real executable."""

from __future__ import annotations

import os
import re
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


def daemon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from gopherpayd.cli import run; run()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def daemon_command_paths() -> list[tuple[str, ...]]:
    from gopherpayd.cli import app as daemon_app

    root = typer.main.get_command(daemon_app)
    return [
        tuple(ctx.command_path.split()[1:])
        for _command, ctx in walk(root, Context(root, info_name="gopherpayd"))
    ]


@pytest.mark.parametrize("path", [(), ("transfer",), ("admin", "deposit"), ("sessions",)], ids=str)
def test_dash_h_prints_the_same_help_as_dash_dash_help(path: tuple[str, ...]) -> None:
    short = gopherpay(*path, "-h")

    assert short.returncode == 0, short.stderr
    assert short.stdout == gopherpay(*path, "--help").stdout
    assert "-h, --help" in short.stdout


@pytest.mark.parametrize("path", [(), *command_paths()], ids=lambda path: " ".join(path) or "gopherpay")
def test_every_command_has_an_examples_section_with_itself_in_it(path: tuple[str, ...]) -> None:
    result = gopherpay(*path, "--help")

    examples = result.stdout.split("\n  Examples:\n", 1)
    assert len(examples) == 2, f"no Examples section in: gopherpay {' '.join(path)} --help"
    commands = [line.strip() for line in examples[1].split("\n\n")[0].splitlines()]
    # Global options may come between the program and the command: gopherpay --profile ops admin ...
    assert any(
        "gopherpay" in line.split() and f" {' '.join(path)} ".replace("  ", " ") in f" {line} "
        for line in commands
        if not line.startswith("#")
    )


@pytest.mark.parametrize(
    "path", [(), *daemon_command_paths()], ids=lambda path: " ".join(path) or "gopherpayd"
)
def test_every_daemon_command_has_examples_and_answers_dash_h(path: tuple[str, ...]) -> None:
    result = daemon(*path, "-h")

    assert result.returncode == 0, result.stderr
    assert "Examples:" in result.stdout
    assert " ".join(("gopherpayd", *path)) in result.stdout.split("Examples:", 1)[1]


PYTHON_TYPE_NAMES = re.compile(r"<(str|int|bool|float|path|list\[[a-z]+\]|[a-z]+ range)>")


@pytest.mark.parametrize("path", [(), *command_paths()], ids=lambda path: " ".join(path) or "gopherpay")
def test_help_shows_no_python_types_braces_or_no_flags(path: tuple[str, ...]) -> None:
    text = gopherpay(*path, "--help").stdout

    assert PYTHON_TYPE_NAMES.findall(text) == []
    assert re.findall(r"\{[A-Z_]+\}", text) == []
    assert "--no-" not in text.replace("--no-input", "").replace("--no-color", "")


@pytest.mark.parametrize(
    "path", [(), *daemon_command_paths()], ids=lambda path: " ".join(path) or "gopherpayd"
)
def test_daemon_help_shows_no_python_types_or_needless_no_flags(path: tuple[str, ...]) -> None:
    text = daemon(*path, "--help").stdout

    assert PYTHON_TYPE_NAMES.findall(text) == []
    assert "<bool>" not in text
    assert "--no-password-stdin" not in text
    assert "--no-promote-existing" not in text
