"""Shell completion for bash, zsh and fish: commands, options, and currency codes.

`gopherpay completion SHELL` prints the script that the shell sources; the script
calls `gopherpay` back with `_GOPHERPAY_COMPLETE` set, and click's completion answers
from the same command tree as `--help` (so new commands complete without a change here).
Every argument or option whose metavar is CURRENCY (or SELL or BUY, the two sides of an
exchange) completes the supported codes.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated, Any

import typer

PROG_NAME = "gopherpay"
COMPLETE_VAR = "_GOPHERPAY_COMPLETE"

app = typer.Typer()


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def init_if_completing() -> None:
    """Register typer's bash/zsh/fish completers when the shell asks for completions."""
    if os.environ.get(COMPLETE_VAR):
        from typer._completion_classes import completion_init

        completion_init()


def complete_currency(_ctx: Any, _param: Any, incomplete: str) -> list[str]:
    from gopherpayd.wallets.currencies import CURRENCIES

    return sorted(code for code in CURRENCIES if code.startswith(incomplete.upper()))


CURRENCY_METAVARS = frozenset({"CURRENCY", "SELL", "BUY"})


def attach_currency_completion(command: Any) -> None:
    """Give every CURRENCY (SELL, BUY) argument and option below `command` the currency codes."""
    for param in command.params:
        if getattr(param, "metavar", None) in CURRENCY_METAVARS:
            param._custom_shell_complete = complete_currency
    for subcommand in getattr(command, "commands", {}).values():
        attach_currency_completion(subcommand)


@app.command()
def completion(
    shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh or fish.")],
) -> None:
    """Print the shell completion script for bash, zsh or fish."""
    from typer._completion_shared import get_completion_script

    typer.echo(get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell.value))
