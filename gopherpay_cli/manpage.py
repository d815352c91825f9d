"""Man pages generated from the Typer apps themselves, so they cannot drift from `--help`.

    python -m gopherpay_cli.manpage           # write man/gopherpay.1 and man/gopherpayd.8
    python -m gopherpay_cli.manpage --check   # exit 1 if the committed pages are stale

It walks the click command tree that Typer builds (click-man cannot: it drops
the options of Typer >= 0.26 commands) and writes roff: NAME, SYNOPSIS,
DESCRIPTION, OPTIONS, COMMANDS (every subcommand with its arguments and
options), EXIT STATUS, ENVIRONMENT and FILES.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import typer

# Typer builds its command tree from the click it vendors; these are its classes.
from typer._click import Command, Context, Parameter

from gopherpay_cli.errors import EXIT_STATUS
from gopherpay_cli.helpstyle import example_lines

MAN_DIR = Path(__file__).resolve().parent.parent / "man"

Entries = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class ManPage:
    """One page: which Typer app it documents and what the app itself cannot say."""

    name: str
    section: int
    app: str
    """`module:attribute` of the Typer app."""
    summary: str
    exit_status: Entries
    environment: Callable[[], Entries]
    files: Entries

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.section}"


def cli_environment() -> Entries:
    return (
        ("GOPHERPAY_SERVER", "The daemon's URL, unless --server is given."),
        (
            "GOPHERPAY_CONFIG",
            "Path of the config file, instead of the default below "
            "(the daemon's TOML file is GOPHERPAYD_CONFIG, see gopherpayd(8)).",
        ),
        (
            "GOPHERPAY_TOKEN",
            "An access token to use instead of the stored login, for scripts and CI. "
            "It is never stored or refreshed.",
        ),
        ("GOPHERPAY_CA_BUNDLE", "A PEM file of CAs to trust for the daemon's certificate."),
        ("GOPHERPAY_PROFILE", "A named login kept apart from the default one, unless --profile is given."),
        ("NO_COLOR", "When set and not empty, no colour is printed."),
        ("XDG_CONFIG_HOME", "Base of the configuration directory (default ~/.config)."),
        (
            "PYTHON_KEYRING_BACKEND",
            "The keyring backend to use (see keyring(1)); backends of low priority, such as "
            "keyrings.alt's files, are only used when named here or in keyring's config file.",
        ),
    )


DAEMON_ENVIRONMENT_NOTES: dict[str, str] = {
    "data_dir": "Default: $XDG_DATA_HOME/gopherpay, which is ~/.local/share/gopherpay on Linux "
    "(~/Library/Application Support/gopherpay on macOS, as platformdirs places it); "
    "it is created with mode 0700.",
    "bcrypt_rounds": "Default: 12. Allowed: 4 to 16, and at least {min_rounds} unless "
    "GOPHERPAY_ENVIRONMENT=test (a lower cost only makes tests faster).",
    "environment": "Allowed: production, development, test. Default: production. Only test allows "
    "a bcrypt cost below {min_rounds}; production also refuses an access-token lifetime above 3600 s.",
}
"""What the field's type cannot say: a computed default, or a rule that depends on another field."""


def daemon_environment() -> Entries:
    """GOPHERPAY_* for each field of the daemon's settings, as pydantic-settings reads them."""
    try:
        settings_module = importlib.import_module("gopherpayd.settings")
    except ModuleNotFoundError:
        return ()
    entries = [
        (
            "GOPHERPAYD_CONFIG",
            "Path of the TOML config file (default: <data dir>/gopherpayd.toml). "
            "GOPHERPAY_CONFIG is the CLI's config file and is not read by the daemon.",
        )
    ]
    settings_class = settings_module.Settings
    docstrings = attribute_docstrings(settings_class)
    min_rounds = getattr(settings_module, "MIN_PRODUCTION_BCRYPT_ROUNDS", 10)
    for name, field in settings_class.model_fields.items():
        description = field.description or docstrings.get(name) or name.replace("_", " ").capitalize()
        note = DAEMON_ENVIRONMENT_NOTES.get(name)
        if note is not None:
            entries.append((f"GOPHERPAY_{name.upper()}", note.format(min_rounds=min_rounds)))
            continue
        value = field.default_factory() if field.default_factory is not None else field.default
        default = "empty" if value in ("", None, []) or str(value) == "" else str(value)
        allowed = _allowed_values(field)
        allowed_text = f" Allowed: {allowed}." if allowed else ""
        entries.append(
            (f"GOPHERPAY_{name.upper()}", f"{description.rstrip('.')}.{allowed_text} Default: {default}.")
        )
    return tuple(entries)


def _allowed_values(field: Any) -> str:
    """The values a settings field takes, from its Literal type or its numeric bounds."""
    choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else ()
    if choices:
        return ", ".join(str(choice) for choice in choices)
    low = high = None
    for rule in field.metadata:
        low = getattr(rule, "ge", None) if getattr(rule, "ge", None) is not None else low
        low = f"more than {rule.gt}" if getattr(rule, "gt", None) is not None else low
        high = getattr(rule, "le", None) if getattr(rule, "le", None) is not None else high
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"{low} or more" if not str(low).startswith("more") else str(low)
    return ""


def attribute_docstrings(cls: type) -> dict[str, str]:
    """The string literal right under each annotated attribute of a class body."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docstrings = {}
    for statement, following in zip(body, body[1:], strict=False):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docstrings[statement.target.id] = " ".join(following.value.value.split())
    return docstrings


GOPHERPAY = ManPage(
    name="gopherpay",
    section=1,
    app="gopherpay_cli.main:app",
    summary="command-line client for GopherPay, a command-line banking system",
    exit_status=tuple((str(int(code)), meaning) for code, meaning in EXIT_STATUS),
    environment=cli_environment,
    files=(
        ("~/.config/gopherpay/config.toml", 'Configuration: server = "https://pay.example.com".'),
        (
            "~/.config/gopherpay/credentials.json",
            "Tokens, mode 0600, only where no keyring backend works; otherwise they are kept "
            "in the OS keyring (service gopherpay, one entry per server URL).",
        ),
    ),
)

GOPHERPAYD = ManPage(
    name="gopherpayd",
    section=8,
    app="gopherpayd.cli:app",
    summary="GopherPay daemon: the HTTP API over the ledger, and its maintenance commands",
    exit_status=(
        ("0", "success"),
        ("1", "failure: e.g. the database cannot be reached, the port is taken, a migration failed"),
        ("2", "usage error or invalid configuration (each invalid setting is named on stderr)"),
        (
            "3",
            "serve: the HTTP server (uvicorn) could not start the application: loading it or "
            "its start-up step (the event listener, in-process delivery) failed; the log says why",
        ),
    ),
    environment=daemon_environment,
    files=(
        ("<data dir>/gopherpayd.toml", "Optional configuration file (another one: GOPHERPAYD_CONFIG)."),
        ("<data dir>/gopherpay.db", "The embedded SQLite database, when no database URL is set."),
        (
            "<data dir>/jwt-secret",
            "The generated token signing secret (mode 0600), created when serve or worker first "
            "starts without GOPHERPAY_JWT_SECRET.",
        ),
        (
            "alembic.ini",
            "In the source tree: lets alembic(1) itself migrate the database the settings name, "
            "e.g. alembic upgrade head, alembic history.",
        ),
    ),
)

PAGES = (GOPHERPAY, GOPHERPAYD)


def load_command(page: ManPage) -> Command | None:
    """The click command of the page's Typer app, or None while the app does not exist yet."""
    module_name, attribute = page.app.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise
    return typer.main.get_command(getattr(module, attribute))


def walk(command: Command, ctx: Context) -> Iterator[tuple[Command, Context]]:
    """Every visible subcommand below `command`, depth first, with its context."""
    subcommands = getattr(command, "commands", {})
    for name in command.list_commands(ctx) if hasattr(command, "list_commands") else []:
        subcommand = subcommands[name]
        if subcommand.hidden:
            continue
        sub_ctx = Context(subcommand, info_name=name, parent=ctx)
        yield subcommand, sub_ctx
        yield from walk(subcommand, sub_ctx)


def root_context(page: ManPage, command: Command) -> Context:
    return Context(command, info_name=page.name)


def render(page: ManPage, command: Command) -> str:
    """The roff source of the page."""
    ctx = root_context(page, command)
    lines = [
        f'.TH {page.name.upper()} {page.section} "" "{page.name} {version("gopherpay")}" "GopherPay"',
        ".SH NAME",
        f"{_escape_name(page.name)} \\- {_text(page.summary)}",
        ".SH SYNOPSIS",
        _usage(command, ctx),
        ".SH DESCRIPTION",
        *_paragraphs(command.help or ""),
        ".SH OPTIONS",
        *_parameters(command, ctx, include_help=True),
        *_examples(command, ".SH EXAMPLES"),
    ]
    commands = list(walk(command, ctx))
    if commands:
        lines.append(".SH COMMANDS")
        for subcommand, sub_ctx in commands:
            lines.append(f'.SS "{_escape_name(_usage_text(subcommand, sub_ctx))}"')
            lines.extend(_paragraphs(subcommand.help or ""))
            lines.extend(_parameters(subcommand, sub_ctx, include_help=False))
            lines.extend(_examples(subcommand, ".PP\nExamples:"))
    for title, entries in (
        ("EXIT STATUS", page.exit_status),
        ("ENVIRONMENT", page.environment()),
        ("FILES", page.files),
    ):
        if entries:
            lines.append(f".SH {title}")
            for term, meaning in entries:
                lines.extend([".TP", f".B {_text(term)}", _text(meaning)])
    return "\n".join(lines) + "\n"


def _usage_text(command: Command, ctx: Context) -> str:
    return " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])


def _usage(command: Command, ctx: Context) -> str:
    name, *pieces = _usage_text(command, ctx).split(" ")
    return "\n".join([f".B {_escape_name(name)}", _escape_name(" ".join(pieces))])


def _parameters(command: Command, ctx: Context, *, include_help: bool) -> list[str]:
    """A `.TP` entry per argument and option; `--help` only on the page's own command."""
    lines: list[str] = []
    help_option = command.get_help_option(ctx)
    params: list[Parameter] = list(command.params)
    if include_help and help_option is not None:
        params.append(help_option)
    for param in params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        flags, help_text = record
        lines.extend([".TP", f"\\fB{_escape_name(flags)}\\fR", _text(help_text) or "\\&"])
    return lines


def _examples(command: Command, heading: str) -> list[str]:
    """The command's Examples section (see gopherpay_cli.examples) as a literal block."""
    lines = example_lines(command)
    if not lines:
        return []
    return [*heading.split("\n"), ".RS 4", ".nf", *(_text(line) for line in lines), ".fi", ".RE"]


def _paragraphs(text: str) -> list[str]:
    """Help text as roff paragraphs; click's `\\b` marks a paragraph kept as typed."""
    lines: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        if not paragraph.strip():
            continue
        lines.append(".PP")
        if paragraph.startswith("\b"):
            body = paragraph.removeprefix("\b").strip("\n").splitlines()
            lines.extend([".nf", *(_text(line) for line in body), ".fi"])
        else:
            lines.append(_text(" ".join(paragraph.split())))
    return lines


def _text(text: str) -> str:
    """Running text: backslashes escaped, no line may start a roff request."""
    escaped = text.replace("\\", "\\e")
    if escaped.startswith((".", "'")):
        escaped = "\\&" + escaped
    return escaped


def _escape_name(text: str) -> str:
    """Command and option names: hyphens are real minus signs, so `--json` can be searched."""
    return _text(text).replace("-", "\\-")


def generate(man_dir: Path = MAN_DIR) -> dict[Path, str]:
    """The page text for every page whose app exists, by output path."""
    pages = {}
    for page in PAGES:
        command = load_command(page)
        if command is not None:
            pages[man_dir / page.file_name] = render(page, command)
    return pages


def stale_pages(pages: dict[Path, str]) -> list[str]:
    """A unified diff per page whose file differs from the generated text."""
    differences = []
    for path, text in pages.items():
        committed = path.read_text(encoding="utf-8") if path.exists() else ""
        if committed != text:
            diff = difflib.unified_diff(
                committed.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{path.name} (committed)",
                tofile=f"{path.name} (generated)",
            )
            differences.append("".join(diff))
    return differences


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gopherpay_cli.manpage", description=__doc__)
    parser.add_argument("--check", action="store_true", help="Exit 1 if a committed page is stale.")
    parser.add_argument("--man-dir", type=Path, default=MAN_DIR, help="Where the pages live.")
    arguments = parser.parse_args(argv)
    pages = generate(arguments.man_dir)
    for page in PAGES:
        if arguments.man_dir / page.file_name not in pages:
            print(f"skipped {page.file_name}: {page.app} does not exist yet", file=sys.stderr)
    if arguments.check:
        differences = stale_pages(pages)
        for difference in differences:
            print(difference, file=sys.stderr)
        if differences:
            print("Man pages are stale; run: python -m gopherpay_cli.manpage", file=sys.stderr)
        return 1 if differences else 0
    arguments.man_dir.mkdir(parents=True, exist_ok=True)
    for path, text in pages.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
