"""Help text that reads like a man page, not like a Python signature; and a fast path
for plain values.

Typer labels every argument and option with its Python type (`CODE <str>`,
`ID <list[str]>`, `--version <bool>`), puts required arguments in braces
(`{AMOUNT}`) and gives every boolean flag a `--no-…` twin. `tidy` walks a built
click tree once and fixes all three, and appends each command's Examples section,
so `--help`, the man pages and completion all see the same words.

Typer 0.29 also checks every value through a pydantic TypeAdapter, built on first
use: importing pydantic and building the adapters of one command line costs more
than the whole HTTP request of `gopherpay balance`. A value that needs no checking
(text for a `str` parameter, or no value at all) skips it here;
numbers, paths and choices still go through typer's own checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from typer._click import Context
from typer._click.exceptions import MissingParameter
from typer.core import TyperArgument, TyperOption

HELP_OPTION_NAMES = ["--help", "-h"]
"""`-h` as on gopherpayd; `--help` first, so click's "Try 'gopherpay --help'" keeps its words."""
EXAMPLES_HEADING = "Examples:"


def _process_plain_value(param: Any, ctx: Any, value: Any, checked: Any) -> Any:
    """`process_value` without a pydantic round trip for text and for missing optional values;
    anything else goes to `checked`, typer's own."""
    annotation = param.type_descriptor.annotation
    # Typer's descriptor holds the type without its `| None`: a missing value is None for any.
    plain = value is None or (isinstance(value, str) and annotation is str)
    if not plain:
        return checked(ctx, value)
    if param.required and value is None:
        raise MissingParameter(ctx=ctx, param=param)
    if param.callback is not None:
        value = param.callback(ctx, param, value)
    return value


class PlainArgument(TyperArgument):
    """An argument shown by its metavar alone: `AMOUNT`, `[CODE]`, `ID...`."""

    def process_value(self, ctx: Any, value: Any) -> Any:
        return _process_plain_value(self, ctx, value, super().process_value)

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


class PlainOption(TyperOption):
    """An option shown as `--limit N`, a flag as itself; no Python type names."""

    def process_value(self, ctx: Any, value: Any) -> Any:
        return _process_plain_value(self, ctx, value, super().process_value)

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag or self.count:
            return None
        descriptor = self.type_descriptor
        if descriptor.is_choice and descriptor.choices:
            return "|".join(str(getattr(choice, "value", choice)) for choice in descriptor.choices)
        return (self.name or "value").upper()


def tidy(
    command: Any,
    examples: Mapping[str, Sequence[str]] = {},  # noqa: B006 - read only
    path: str = "",
    *,
    help_option_names: Sequence[str] = HELP_OPTION_NAMES,
) -> Any:
    """Fix the help of `command` and every command below it, in place; returns `command`.

    `examples` maps a command path below the root (`""` for the root itself,
    `"admin deposit"`) to its example lines: `# what it does` then the command.
    """
    for param in command.params:
        _tidy_param(param)
    help_option = command.get_help_option(Context(command, help_option_names=list(help_option_names)))
    if help_option is not None:
        _tidy_param(help_option)
    lines = examples.get(path)
    if lines:
        section = "\b\n" + EXAMPLES_HEADING + "\n" + "\n".join(f"  {line}" for line in lines)
        command.epilog = f"{section}\n\n{command.epilog}" if command.epilog else section
    for name, subcommand in getattr(command, "commands", {}).items():
        tidy(subcommand, examples, f"{path} {name}".strip(), help_option_names=help_option_names)
    return command


def _tidy_param(param: Any) -> None:
    if type(param) is TyperArgument:
        param.__class__ = PlainArgument
    elif type(param) is TyperOption:
        param.__class__ = PlainOption
    if getattr(param, "is_bool_flag", False) and param.default is False:
        # Off is already the default: `--no-password-stdin` says nothing, nor does its default.
        param.secondary_opts = [opt for opt in param.secondary_opts if not opt.startswith("--no-")]
        param.show_default = False


def example_lines(command: Any) -> list[str]:
    """The lines of the Examples section `tidy` gave `command` (for the man page)."""
    epilog = command.epilog or ""
    marker = "\b\n" + EXAMPLES_HEADING + "\n"
    if not epilog.startswith(marker):
        return []
    section = epilog[len(marker) :].split("\n\n", 1)[0]
    return [line.removeprefix("  ") for line in section.splitlines()]
