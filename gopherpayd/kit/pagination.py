"""Opaque keyset cursors: newest first by (created_at, id)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import Mapped

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


# Any select, of one entity or several (SQLAlchemy types a select by the tuple of its columns).
Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])


def keyset_before(
    created_at: Mapped[datetime], id_: Mapped[uuid.UUID], cursor: Cursor
) -> ColumnElement[bool]:
    """The rows that come after `cursor` newest first: older, or as old with a smaller id."""
    return or_(created_at < cursor.created_at, and_(created_at == cursor.created_at, id_ < cursor.id))


def newest_first(query: Q, created_at: Mapped[datetime], id_: Mapped[uuid.UUID], after: Cursor | None) -> Q:
    """`query` ordered newest first by (created_at, id), starting after `after` if given."""
    if after is not None:
        query = query.where(keyset_before(created_at, id_, after))
    return query.order_by(created_at.desc(), id_.desc())
