"""Column helpers shared by the table models."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Table, Uuid
from sqlmodel import Field, SQLModel

from gopherpayd.kit.clock import UtcDateTime, utcnow


def id_field() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True, sa_type=Uuid)


def fk_field(target: str, *, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        foreign_key=target,
        sa_type=Uuid,
        nullable=nullable,
        index=index,
    )


def timestamp_field(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UtcDateTime, nullable=True)
    return Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


def minor_units_field(**kwargs: Any) -> Any:
    return Field(sa_type=BigInteger, nullable=False, **kwargs)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model, for set-based statements that skip the ORM."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


__all__ = ["datetime", "fk_field", "id_field", "minor_units_field", "table_of", "timestamp_field"]
