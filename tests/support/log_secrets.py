"""Finding secrets in the logs daemons wrote: password hashes, tokens, codes.

Secrets never appear in logs (DESIGN.md). Some have a shape that can be looked for
in any log (bcrypt hashes, JWTs); the others (refresh tokens, verification codes,
passwords) only by value, by a test that knows them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

BCRYPT_HASH = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
SHAPES = {"a bcrypt hash": BCRYPT_HASH, "a JWT": JWT}


def leaks(text: str, known: Iterable[str] = ()) -> list[str]:
    """What in `text` is a secret: any bcrypt hash or JWT, and any of the `known` values
    (a value of digits only counts where no digit is next to it)."""
    found = [
        f"{what}: {match.group()[:20]}…" for what, shape in SHAPES.items() for match in shape.finditer(text)
    ]
    for secret in known:
        pattern = rf"(?<!\d){re.escape(secret)}(?!\d)" if secret.isdigit() else re.escape(secret)
        if re.search(pattern, text):
            found.append(f"a known secret: {secret[:4]}…")
    return found


def leaks_in_logs(root: Path) -> dict[Path, list[str]]:
    """Every *.log under `root` that holds a secret of a known shape, with what it holds."""
    found = {}
    for log in sorted(root.rglob("*.log")):
        in_this_log = leaks(log.read_text(errors="replace"))
        if in_this_log:
            found[log] = in_this_log
    return found


class LeakWatcher(logging.Handler):
    """Reads every record the test process logs (the in-process apps' errors with their
    tracebacks included) and keeps those that hold a secret of a known shape."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is no leak of ours
            return
        self.found.extend(f"{record.name}: {what}" for what in leaks(text))
