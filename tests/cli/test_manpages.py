"""The committed man pages are current and document every command and option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gopherpay_cli import manpage
from gopherpay_cli.manpage import PAGES, ManPage, generate, load_command, root_context, stale_pages, walk


def roff(name: str) -> str:
    """How a command or option name is spelled in the roff source."""
    return name.replace("-", "\\-")


def committed(page: ManPage) -> str:
    return (manpage.MAN_DIR / page.file_name).read_text(encoding="utf-8")


def test_both_apps_exist_so_both_pages_are_generated() -> None:
    assert sorted(path.name for path in generate()) == ["gopherpay.1", "gopherpayd.8"]


def test_committed_pages_equal_freshly_generated_ones() -> None:
    assert stale_pages(generate()) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.file_name)
def test_every_command_has_a_section(page: ManPage) -> None:
    command = load_command(page)
    assert command is not None
    text = committed(page)
    missing = [
        ctx.command_path
        for _sub, ctx in walk(command, root_context(page, command))
        if f'.SS "{roff(ctx.command_path)} ' not in text
    ]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.file_name)
def test_every_option_and_argument_is_documented(page: ManPage) -> None:
    command = load_command(page)
    assert command is not None
    ctx = root_context(page, command)
    text = committed(page)
    missing = []
    for owner, owner_ctx in [(command, ctx), *walk(command, ctx)]:
        for param in owner.params:
            if getattr(param, "hidden", False):
                continue
            if param.param_type_name == "option":
                names = [*param.opts, *param.secondary_opts]
            else:
                names = [param.metavar or str(param.name).upper()]
            missing += [f"{owner_ctx.command_path} {name}" for name in names if roff(name) not in text]
    assert missing == []


@pytest.mark.parametrize(
    "section",
    ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT", "FILES"],
)
def test_gopherpay_page_has_section(section: str) -> None:
    assert f".SH {section}\n" in committed(manpage.GOPHERPAY)


def test_gopherpay_page_documents_every_exit_code() -> None:
    text = committed(manpage.GOPHERPAY)
    for code in range(8):
        assert f".TP\n.B {code}\n" in text


def test_check_mode_reports_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert manpage.main(["--man-dir", str(tmp_path)]) == 0
    page = tmp_path / "gopherpay.1"
    page.write_text(page.read_text().replace("\\-\\-memo", "\\-\\-note"))
    capsys.readouterr()

    assert manpage.main(["--check", "--man-dir", str(tmp_path)]) == 1
    assert "-\\fB\\-\\-note TEXT\\fR\n+\\fB\\-\\-memo TEXT\\fR\n" in capsys.readouterr().err


def test_check_mode_passes_on_fresh_pages(tmp_path: Path) -> None:
    manpage.main(["--man-dir", str(tmp_path)])

    assert manpage.main(["--check", "--man-dir", str(tmp_path)]) == 0


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.file_name)
def test_pages_name_no_python_types_braces_or_needless_no_flags(page: ManPage) -> None:
    text = committed(page)

    for python_type in ("<str>", "<int>", "<bool>", "<path>", "<list[str]>", "range>"):
        assert python_type not in text
    assert re.findall(r"\{[A-Za-z_]+\}", text) == []  # no click-style {ARGUMENT} in a usage line
    assert roff("--no-password-stdin") not in text
    assert "no-password-stdin" not in text


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.file_name)
def test_pages_have_an_examples_section_and_examples_for_each_command(page: ManPage) -> None:
    command = load_command(page)
    assert command is not None
    text = committed(page)
    assert "\n.SH EXAMPLES\n" in text
    sections = text.split("\n.SS ")[1:]
    without = [section.splitlines()[0] for section in sections if "\nExamples:\n" not in section]
    assert without == []


def test_daemon_page_documents_exit_status_3_and_real_environment_values() -> None:
    text = committed(manpage.GOPHERPAYD)
    exit_status = text.split(".SH EXIT STATUS\n", 1)[1].split(".SH ", 1)[0]
    environment = text.split(".SH ENVIRONMENT\n", 1)[1].split(".SH ", 1)[0]

    assert ".B 3\n" in exit_status
    assert "uvicorn" in exit_status
    assert "~/.local/share/gopherpay" in environment
    assert "Allowed: production, development, test." in environment
    assert "at least 10 unless GOPHERPAY_ENVIRONMENT=test" in environment
    assert "computed at start-up" not in environment
