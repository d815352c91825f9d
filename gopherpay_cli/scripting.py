"""Output for scripts: `--json FIELDS`, `--jq EXPR`, and errors as JSON on stderr.

- `--json FIELDS` (`--json id,amount`, or unambiguously `--json=id,amount`) keeps only
  those fields of each object (of each item, for a list), as `gh --json` does.
- `--jq EXPR` runs a jq program on the JSON in-process (the `jq` package, libjq's own
  bindings), so no jq binary is needed. Strings come out raw, anything else as one
  line of JSON per result. With `--all`, it runs on each page as it arrives.
- With `--json`, an error is the daemon's problem document (RFC 9457, with its stable
  `code`) plus `exit_code`, as one line of JSON on stderr; an error found by the CLI
  itself gets the same shape with a code of its own (`usage_error`, `daemon_unreachable`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from gopherpay_cli.errors import ApiError, ExitCode, GopherPayError, UsageError

FIELD_LIST = re.compile(r"[a-z_][a-z0-9_]*(?:,[a-z_][a-z0-9_]*)*")
"""What `--json` takes as a field list: lower-case names, comma-separated."""

CLI_ERROR_CODES: dict[ExitCode, str] = {
    ExitCode.FAILURE: "failure",
    ExitCode.USAGE: "usage_error",
    ExitCode.AUTH: "authentication_required",
    ExitCode.REJECTED: "rejected",
    ExitCode.NOT_FOUND: "not_found",
    ExitCode.CONFLICT: "conflict",
    ExitCode.UNREACHABLE: "daemon_unreachable",
}
"""The `code` of an error the CLI found itself, by exit code (the daemon's codes are its own)."""


def take_json_fields(args: Sequence[str], reserved: Callable[[str], bool]) -> tuple[list[str], str | None]:
    """`args` without the field list of `--json FIELDS` / `--json=FIELDS`, and that list.

    A word after `--json` is a field list only when it looks like one and `reserved`
    says it is not one of the command names or currency codes that `--json` is often
    followed by (`gopherpay --json balance`, `gopherpay balance --json usd`).
    """
    kept: list[str] = []
    fields: str | None = None
    position = 0
    while position < len(args):
        token = args[position]
        if token == "--":
            kept.extend(args[position:])
            break
        if token.startswith("--json="):
            fields = token.removeprefix("--json=")
            kept.append("--json")
        elif token == "--json" and position + 1 < len(args):
            following = args[position + 1]
            kept.append(token)
            if FIELD_LIST.fullmatch(following) and not reserved(following):
                fields = following
                position += 1
        else:
            kept.append(token)
        position += 1
    if fields is not None and not FIELD_LIST.fullmatch(fields):
        raise UsageError(
            f"--json takes field names separated by commas, like --json id,amount; got {fields!r}"
        )
    return kept, fields


class OutputFilter:
    """What `--json FIELDS` and `--jq EXPR` make of one JSON document: the texts to print."""

    def __init__(self, fields: str | None, jq_program: str | None) -> None:
        self.fields = tuple(fields.split(",")) if fields else ()
        self._program: Any = None
        if jq_program is not None:
            import jq  # type: ignore[import-not-found]

            try:
                self._program = jq.compile(jq_program)
            except ValueError as error:
                raise UsageError(f"--jq: {_first_line(error)}") from None

    @property
    def active(self) -> bool:
        return bool(self.fields) or self._program is not None

    @property
    def runs_jq(self) -> bool:
        return self._program is not None

    def select(self, data: Any) -> Any:
        """`data` with only the chosen fields: of an object, or of each item of a list or page."""
        if not self.fields:
            return data
        if isinstance(data, list):
            return [self._pick(item) for item in data]
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            return {**data, "items": [self._pick(item) for item in data["items"]]}
        return self._pick(data)

    def texts(self, data: Any, *, indent: int | None = 2) -> list[str]:
        """The lines to print for `data`: its selected fields as JSON, or each jq result."""
        selected = self.select(data)
        if self._program is None:
            return [json.dumps(selected, indent=indent)]
        try:
            results = self._program.input_value(selected).all()
        except ValueError as error:
            raise GopherPayError(f"--jq: {_first_line(error)}", ExitCode.FAILURE) from None
        return [result if isinstance(result, str) else json.dumps(result) for result in results]

    def _pick(self, item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        unknown = [name for name in self.fields if name not in item]
        if unknown:
            raise UsageError(
                f"Unknown JSON field {unknown[0]!r}",
                hint="Available fields: " + ", ".join(sorted(item)),
            )
        return {name: item[name] for name in self.fields}


def error_document(error: GopherPayError) -> dict[str, Any]:
    """The JSON that `--json` prints on stderr for `error`."""
    if isinstance(error, ApiError):
        document: dict[str, Any] = dict(error.problem) if error.problem else {}
        document.setdefault("status", error.status)
        document.setdefault("code", error.code)
        document.setdefault("detail", error.detail)
    else:
        code = getattr(error, "code", None) or CLI_ERROR_CODES.get(error.exit_code, "failure")
        document = {"code": code, "detail": error.message}
    if error.hint:
        document["hint"] = error.hint
    document["exit_code"] = int(error.exit_code)
    return document


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
