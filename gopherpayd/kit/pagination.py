"""Opaque keyset cursors: newest first by (created_at, id), or A to Z by currency code.

Every list answers `{"items": [...], "next_cursor": ...}`: at most `limit` items (1 to
MAX_LIMIT, DEFAULT_LIMIT when left out), in a stable order by a unique key, and the
cursor to pass back for the items after them (None once the list is exhausted). A
cursor this server did not issue is a 400 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Query
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import Mapped

from gopherpayd.kit.clock import as_utc
from gopherpayd.kit.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
CursorQuery = Annotated[str | None, Query(max_length=500, description="The next_cursor of the page before")]


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


CODE = re.compile(r"[A-Z]{3}")
CODE_CURSOR_TAG = "code"
"""The first element of a code cursor: no time cursor decodes from it, nor the other way."""


@dataclass(frozen=True)
class CodeCursor:
    """Where a list ordered A to Z by an ISO 4217 code (currencies, one user's wallets)
    goes on: after `code`."""

    code: str

    def encode(self) -> str:
        raw = json.dumps([CODE_CURSOR_TAG, self.code])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> CodeCursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            tag, code = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (ValueError, TypeError, UnicodeDecodeError) as error:
            raise InvalidCursor("cursor is not one this server issued") from error
        if tag != CODE_CURSOR_TAG or not isinstance(code, str) or not CODE.fullmatch(code):
            raise InvalidCursor("cursor is not one this server issued")
        return cls(code)


class Keyed(Protocol):
    created_at: datetime
    id: uuid.UUID


K = TypeVar("K", bound=Keyed)
T = TypeVar("T")


def split_page(rows: Sequence[K], limit: int) -> tuple[list[K], str | None]:
    """Rows fetched with `limit + 1`: the page, and the cursor after it if more remain."""
    return split_page_by(rows, limit, lambda last: Cursor(last.created_at, last.id).encode())


def split_page_by(
    rows: Sequence[T], limit: int, cursor_after: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """`split_page` for any order: `cursor_after(row)` is the cursor that goes on after `row`."""
    page = list(rows[:limit])
    if len(rows) > limit:
        return page, cursor_after(page[-1])
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
