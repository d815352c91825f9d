"""Opaque keyset cursors: newest first by (created_at, id)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from gopherpayd.kit.clock import as_utc
from gopherpayd.kit.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(BadRequest):
    code, title = "invalid_cursor", "Invalid cursor"


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), str(self.id)])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            created, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
            return cls(as_utc(datetime.fromisoformat(created)), uuid.UUID(ident))
        # OverflowError: a time that cannot be shifted to UTC (year 9999 at -14:00).
        except (ValueError, TypeError, UnicodeDecodeError, OverflowError) as error:
            raise InvalidCursor("cursor is not one this server issued") from error


class Keyed(Protocol):
    created_at: datetime
    id: uuid.UUID


K = TypeVar("K", bound=Keyed)


def split_page(rows: Sequence[K], limit: int) -> tuple[list[K], str | None]:
    """Rows fetched with `limit + 1`: the page, and the cursor after it if more remain."""
    page = list(rows[:limit])
    if len(rows) > limit:
        return page, Cursor(page[-1].created_at, page[-1].id).encode()
    return page, None
