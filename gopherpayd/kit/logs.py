"""Log lines and request ids: every line the daemon writes while it answers a request names
that request's id, in text (`[req 3f2a…]`) or, with GOPHERPAY_LOG_FORMAT=json, as one JSON
object per line.

The request id is the client's `X-Request-Id` when it is a sane token (1 to 128 letters,
digits and `._:-`, so a header cannot forge log lines or grow without bound), else a new
random one. Lines logged outside a request have none (`-` in text, no key in JSON).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [req %(request_id)s] %(message)s"

current_request_id: ContextVar[str | None] = ContextVar("gopherpay_request_id", default=None)

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


def request_id_from(incoming: str | None) -> str:
    """The client's id when it is sane, else a new one."""
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (handlers' filter, so every logger's
    records get it, uvicorn's and the libraries' included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, RFC 3339 with milliseconds), level, logger,
    message, request_id, the record's `extra` fields, and a traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id and request_id != "-":
            line["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and not name.startswith("_") and name not in line:
                line[name] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def logging_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the whole process: our format on stderr for the root
    logger, uvicorn's loggers included. uvicorn applies it in each worker process too."""
    formatter: dict[str, Any] = (
        {"()": f"{JsonFormatter.__module__}.JsonFormatter"}
        if log_format == "json"
        else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{RequestIdFilter.__module__}.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        # uvicorn's loggers hand their lines to the root's handler; its access log is off
        # (the daemon writes its own, with the request id and the duration).
        "loggers": {
            name: {"level": level.upper(), "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure(level: str, log_format: LogFormat) -> None:
    """Set up this process's logging (relay, worker, and serve before uvicorn takes over)."""
    import logging.config

    logging.config.dictConfig(logging_config(level, log_format))
