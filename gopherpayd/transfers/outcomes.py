"""What became of one money movement, in domain terms: the endpoints turn it into HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field

from gopherpayd.kit.errors import AppError
from gopherpayd.transfers.schemas import HoldOut, TransferOut


@dataclass(frozen=True)
class Moved:
    """The money moved: the transfer as the movement's initiator sees it."""

    transfer: TransferOut
    replayed: bool = False
    """True when this is the outcome an earlier request with the same idempotency key got."""
    encoded: str | None = field(default=None, compare=False)
    """The transfer as JSON, as its idempotency record keeps it: built once, sent as is."""


@dataclass(frozen=True)
class Refused:
    """The movement was refused and moved nothing."""

    refusal: AppError
    replayed: bool = False
    """True when this is the outcome an earlier request with the same idempotency key got."""
    encoded: str | None = field(default=None, compare=False)
    """The problem document as JSON, as its idempotency record keeps it: built once, sent as is."""


@dataclass(frozen=True)
class HoldChanged:
    """A hold was placed, captured (a transfer posted), released or extended."""

    hold: HoldOut
    replayed: bool = False
    """True when this is the outcome an earlier request with the same idempotency key got."""
    encoded: str | None = field(default=None, compare=False)
    """The hold as JSON, as its idempotency record keeps it: built once, sent as is."""


MovementOutcome = Moved | HoldChanged | Refused
