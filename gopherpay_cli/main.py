"""The `gopherpay` command: global options, the exit-code table, and the sub-apps.

Start-up stays fast: httpx, rich and keyring are imported by the commands that
need them, never here; and the root builds only the command that runs. Each
sub-app's module is imported, and its click commands built, when one of its
commands is looked up (`gopherpay balance` loads the wallets module alone; `--help`,
completion and the man page look every command up, and so load them all).
"""

# No `from __future__ import annotations` here: typer reads the root callback's dozen
# `Annotated[…, typer.Option(…)]` hints on every start, and evaluating them as strings
# (compiling each, building its Option again) costs several ms; as objects they are free.

import copy
import re
import shlex
import sys
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperGroup
from typer.main import get_group_from_info
from typer.models import TyperInfo

from gopherpay_cli.completion import attach_currency_completion, init_if_completing
from gopherpay_cli.config import DEFAULT_SERVER
from gopherpay_cli.errors import EXIT_STATUS, ExitCode, GopherPayError, UsageError
from gopherpay_cli.examples import CLI_EXAMPLES
from gopherpay_cli.helpstyle import HELP_OPTION_NAMES, tidy
from gopherpay_cli.render import disable_colour, report_error
from gopherpay_cli.scripting import take_json_fields
from gopherpay_cli.state import AppState, given_on_command_line

DESCRIPTION = """\
GopherPay from the terminal: hold wallets in several currencies, send money,
and read your history. Amounts are typed and shown in major units (12.34 USD,
1,000 VND); --json prints the daemon's objects as returned, in minor units.

Global options go before the command (gopherpay --json balance USD); --json,
--quiet and --no-input may also follow it (gopherpay balance USD --json)."""


def exit_status_text() -> str:
    """The exit-code table for the help epilog (\\b keeps click from re-wrapping it)."""
    lines = [f"  {int(code)}  {meaning}" for code, meaning in EXIT_STATUS]
    return "\b\nExit status:\n" + "\n".join(lines)


TRAILING_FLAGS = ("json_output", "quiet", "no_input", "no_color", "jq", "timeout")
"""Global options also accepted after the command: `gopherpay balance --json`."""


def _set_state_flag(ctx: Any, param: Any, value: Any) -> Any:
    if value:
        # The root callback has run by now: click invokes it before parsing the subcommand.
        state = ctx.find_root().obj
        setattr(state, param.name, value)
        if param.name == "jq":
            state.json_output = True
        if param.name == "no_color":
            disable_colour()
    return value


SUB_APPS: dict[str, tuple[str, ...]] = {
    "gopherpay_cli.commands.auth": ("signup", "login", "logout", "whoami", "verify", "sessions", "password"),
    "gopherpay_cli.commands.wallets": ("balance", "currencies", "wallets"),
    "gopherpay_cli.commands.transfers": ("transfer", "history"),
    "gopherpay_cli.commands.holds": ("hold", "holds"),
    "gopherpay_cli.commands.fx": ("exchange", "fx"),
    "gopherpay_cli.commands.statements": ("statement",),
    "gopherpay_cli.commands.notifications": ("notifications",),
    "gopherpay_cli.commands.admin": ("admin",),
    "gopherpay_cli.commands.auth_status": ("auth",),
    "gopherpay_cli.commands.tokens": ("tokens",),
    "gopherpay_cli.commands.api": ("api",),
    "gopherpay_cli.completion": ("completion",),
}
"""Each sub-app's module (its Typer is `app`) and the top-level commands it defines, in
help order. tests/cli/test_lazy_commands.py checks these against the modules."""

NAMED_SUB_APPS = {"gopherpay_cli.commands.admin": "admin"}
"""Sub-apps mounted as one group under a name (`gopherpay admin …`); the others' commands
sit at the top level."""

COMMAND_WORDS = frozenset(
    {
        *(name for names in SUB_APPS.values() for name in names),
        # below the top level
        "audit", "capture", "change", "close", "create", "dead-letters", "decline", "deposit",
        "events", "extend", "freeze", "list", "log", "open", "quote", "rates", "read", "replay",
        "reverse", "revoke", "set", "show", "status", "unfreeze", "users", "void", "withdraw",
    }
)  # fmt: skip
"""Every command name in the tree: words that `--json` is followed by but never takes
(known without loading the sub-apps; tests/cli/test_lazy_commands.py checks the tree)."""


def is_command_word_or_currency(word: str) -> bool:
    """True for a command name or a currency code (any case): `--json` never takes these."""
    if word.lower() in COMMAND_WORDS:
        return True
    from gopherpayd.wallets.currencies import CURRENCIES

    return word.upper() in CURRENCIES


def _accept_trailing_flags(command: Any, flags: list[Any]) -> None:
    """Give `command`, or every leaf below it, hidden copies of the root's global `flags`."""
    if hasattr(command, "commands"):
        for subcommand in command.commands.values():
            _accept_trailing_flags(subcommand, flags)
        if not command.invoke_without_command:
            return  # a group that does nothing by itself takes no flags of its own
    for flag in flags:
        hidden_copy = copy.copy(flag)
        hidden_copy.hidden = True
        hidden_copy.expose_value = False
        hidden_copy.callback = _set_state_flag
        command.params.append(hidden_copy)


class LazyCommands(MutableMapping[str, Any]):
    """The root's commands: all names known up front, each sub-app built on first lookup.

    Iterating gives the names (suggestions for a mistyped command need no loading);
    reading a command, or `.items()` / `.values()`, builds its sub-app.
    """

    def __init__(self, group: "GopherPayGroup") -> None:
        self._group = group
        self._module_of = {name: module for module, names in SUB_APPS.items() for name in names}
        self._names = list(self._module_of)
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built and name in self._module_of:
            self._built.update(self._group.build_sub_app(self._module_of.pop(name)))
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._names:
            self._names.append(name)
        self._module_of.pop(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._module_of.pop(name, None)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


_COMMAND_IN_HINT = re.compile(r"\bgopherpay (?=[a-z])")
"""`gopherpay login` in a hint: a command to run, without the global options."""


def with_global_options(ctx: Any, hint: str) -> str:
    """The hint's commands with the --server and --profile the user typed, so following it
    acts on the same daemon and account (`gopherpay --profile bob verify CODE`)."""
    given = []
    for name, flag in (("server_option", "--server"), ("profile", "--profile")):
        state = ctx.obj
        value = getattr(state, name, None)
        if value and given_on_command_line(ctx, "server" if name == "server_option" else name):
            given.append(f"{flag} {shlex.quote(str(value))}")
    if not given:
        return hint
    return _COMMAND_IN_HINT.sub(f"gopherpay {' '.join(given)} ", hint)


def said_once(error: GopherPayError) -> None:
    """A daemon message that ends in the command its hint gives too (`…: gopherpay verify
    CODE`) loses that ending: the command is said once, in the hint."""
    message, hint = error.message, error.hint or ""
    if ": gopherpay " in message:
        command = message[message.rindex(": gopherpay ") + 2 :]
        if command.split(" (")[0] in hint:
            error.message = message[: message.rindex(": gopherpay ")]


class GopherPayGroup(TyperGroup):
    """The root command: reports a GopherPayError as `Error: …` and exits with its code."""

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)
        self.trailing_flags = [param for param in self.params if param.name in TRAILING_FLAGS]
        # The root alone: its commands are tidied as they are built (build_sub_app).
        tidy(self, CLI_EXAMPLES)
        attach_currency_completion(self)
        self.commands = LazyCommands(self)

    def build_sub_app(self, module_name: str) -> dict[str, Any]:
        """The top-level commands of the sub-app in `module_name`, built as `app.add_typer`
        would mount it, with the global flags, help fixes and completion every command gets."""
        # __import__, not importlib.import_module: the import then shows in `python -X importtime`.
        module = __import__(module_name, fromlist=["app"])
        name = NAMED_SUB_APPS.get(module_name)
        info = TyperInfo(module.app) if name is None else TyperInfo(module.app, name=name)
        group = get_group_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            suggest_commands=app.suggest_commands,
            rich_markup_mode=app.rich_markup_mode,
        )
        commands = dict(group.commands) if name is None else {name: group}
        for command_name, command in commands.items():
            _accept_trailing_flags(command, self.trailing_flags)
            tidy(command, CLI_EXAMPLES, command_name)
            attach_currency_completion(command)
        return commands

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            args, ctx.meta["json_fields"] = take_json_fields(args, is_command_word_or_currency)
        except GopherPayError as error:
            report_error(error, as_json=True)
            raise typer.Exit(int(error.exit_code)) from None
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except GopherPayError as error:
            said_once(error)
            error.message = with_global_options(ctx, error.message)
            if error.hint:
                error.hint = with_global_options(ctx, error.hint)
            state = ctx.obj
            report_error(error, as_json=isinstance(state, AppState) and state.json_output)
            raise typer.Exit(int(error.exit_code)) from None
        except ClickUsageError as error:
            # A command's bad arguments, found by click: with --json, JSON like every other error.
            state = ctx.obj
            if not (isinstance(state, AppState) and state.json_output):
                raise
            report_error(UsageError(error.format_message()), as_json=True)
            raise typer.Exit(int(ExitCode.USAGE)) from None
        except KeyboardInterrupt:
            # 128 + SIGINT, as a shell reports a command Ctrl-C stopped.
            print(file=sys.stderr)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


app = typer.Typer(
    name="gopherpay",
    cls=GopherPayGroup,
    help=DESCRIPTION,
    epilog=exit_status_text(),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": HELP_OPTION_NAMES},
    # Plain click help: three times faster to start than rich panels, and help
    # text is never read as markup.
    rich_markup_mode=None,
    # A traceback's local variables may hold a password or a token.
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("gopherpay")
        except PackageNotFoundError:
            installed = "unknown"
        typer.echo(f"gopherpay {installed}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            envvar="GOPHERPAY_SERVER",
            help=f"The daemon's URL. Default: `server` in the config file, else {DEFAULT_SERVER}.",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            metavar="NAME",
            envvar="GOPHERPAY_PROFILE",
            help="Keep this login apart from the default one (e.g. an operator account).",
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the API objects as JSON (minor units) on stdout, and errors as JSON "
            "on stderr (the problem document with its stable code, plus exit_code). "
            "--json FIELDS (or --json=FIELDS) keeps only those comma-separated fields of "
            "each object, e.g. --json id,amount.",
        ),
    ] = False,
    jq: Annotated[
        str | None,
        typer.Option(
            "--jq",
            metavar="EXPR",
            help="Filter the JSON through this jq program (no jq binary needed; implies "
            "--json): strings print raw, other results as one line of JSON each. With --all, "
            "it runs on each page.",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            envvar="GOPHERPAY_TIMEOUT",
            min=0.1,
            help="How long to wait for the daemon to connect or to send the next bytes of an "
            "answer (a big audit may need more). Default: 15.",
        ),
    ] = None,
    no_input: Annotated[
        bool,
        typer.Option("--no-input", help="Never prompt; a missing value is an error instead."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print no informational messages on stderr.")
    ] = False,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            "--ca-bundle",
            metavar="PATH",
            envvar="GOPHERPAY_CA_BUNDLE",
            exists=True,
            dir_okay=False,
            help="Trust the CAs in this PEM file for the daemon's certificate "
            "(certificates are always verified).",
        ),
    ] = None,
    utc: Annotated[
        bool,
        typer.Option("--utc", help="Show times in UTC instead of your local time zone."),
    ] = False,
    no_color: Annotated[
        bool,
        typer.Option("--no-color", help="No colour, as with NO_COLOR=1 or TERM=dumb."),
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    state = AppState(
        server_option=server,
        json_output=json_output or ctx.meta.get("json_fields") is not None,
        no_input=no_input,
        quiet=quiet,
        ca_bundle=ca_bundle,
        profile=profile,
        timeout=timeout,
        json_fields=ctx.meta.get("json_fields"),
        jq=jq,
    )
    if jq is not None:
        state.json_output = True
    ctx.obj = state
    if utc:
        from gopherpay_cli.views import use_utc

        use_utc(True)
    if no_color:
        disable_colour()
    ctx.call_on_close(state.close)


def run() -> None:
    """Entry point of the `gopherpay` executable."""
    init_if_completing()
    app(prog_name="gopherpay")
