"""Many transfers in one request: each item with its own idempotency key, independent or atomic.

Every item becomes the same money movement POST /v1/transfers would make
(`service.user_transfer`), so its key, its request hash and its stored outcome are
the single endpoint's: a key used there replays here and vice versa.

- Independent: each item goes to the coalescing writer on its own, in item order,
  and joins whichever of the writer's batches it meets; one item's refusal, or one
  item the database rejects, refuses only that item. An item repeating an earlier
  item's key replays its outcome (or is refused `idempotency_key_reused` when it asks
  for something else), whether the writer commits the two in one batch or in two:
  the writer commits its batches one after the other, in the order they were queued.
- Atomic: the items go to the writer as one group, committed in a transaction of its
  own, all or nothing (`CoalescingWriter.submit_atomic`). Before that, each item is
  checked on its own; when any is invalid (schema, currency, key), nothing is
  submitted: each invalid item gets its own problem and the others `linked_failed`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gopherpayd.fx.errors import QuoteNotInBatch
from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database, LostRace, is_retryable, unique_violation
from gopherpayd.kit.errors import AppError, Conflict, TryAgain, validation_problem
from gopherpayd.settings import Settings
from gopherpayd.transfers import service, writer
from gopherpayd.transfers.errors import LinkedFailed
from gopherpayd.transfers.movements import MoneyMovement
from gopherpayd.transfers.outcomes import MovementOutcome, Refused
from gopherpayd.transfers.schemas import BatchItemIn, BatchMode, BatchRequestBody, TransferRequestBody

logger = logging.getLogger("gopherpayd.transfers.batch")


class InvalidItem(AppError):
    """An item of a batch that is not a valid transfer request on its own (422)."""

    status, code, title = 422, "validation_error", "Invalid request"

    def __init__(self, index: int, error: ValidationError) -> None:
        errors = [
            # Never the rejected input itself, as for a whole request body.
            {"loc": ["items", index, *item["loc"]], "msg": item["msg"], "type": item["type"]}
            for item in error.errors()
        ]
        self._problem = validation_problem(errors)
        super().__init__(str(self._problem["detail"]))
        self.code = str(self._problem["code"])
        self.title = str(self._problem["title"])

    def to_problem(self) -> dict[str, Any]:
        return dict(self._problem)


class ItemFailed(AppError):
    """An item the database rejected on its own after the writer isolated it: a bug, never a
    business rule. Nothing of it was written."""

    status, code, title = 500, "internal_error", "Internal error"


@dataclass(frozen=True)
class ItemOutcome:
    index: int
    key: str | None
    outcome: MovementOutcome


@dataclass(frozen=True)
class BatchOutcome:
    mode: BatchMode
    items: list[ItemOutcome]

    @property
    def all_moved(self) -> bool:
        return not any(isinstance(item.outcome, Refused) for item in self.items)


def movement_of(
    principal: Principal, index: int, item: dict[str, Any], *, require_verified_email: bool
) -> MoneyMovement:
    """The movement POST /v1/transfers would make for this item, or the refusal of an invalid one."""
    try:
        checked = BatchItemIn.model_validate(item)
    except ValidationError as error:
        raise InvalidItem(index, error) from None
    body = TransferRequestBody.model_validate(checked.model_dump(exclude={"key"}))
    if body.quote_id is not None:
        raise QuoteNotInBatch("an FX quote is executed on its own: send it with POST /v1/transfers")
    return service.user_transfer(principal, body, checked.key, require_verified_email=require_verified_email)


def _given_key(item: dict[str, Any]) -> str | None:
    key = item.get("key")
    return key if isinstance(key, str) else None


async def run_batch(
    db: Database, settings: Settings, principal: Principal, body: BatchRequestBody
) -> BatchOutcome:
    """Move the money of every item of `body`, in its mode; one outcome per item, in order."""
    prepared: list[MoneyMovement | AppError] = []
    for index, item in enumerate(body.items):
        try:
            prepared.append(
                movement_of(principal, index, item, require_verified_email=settings.require_verified_email)
            )
        except AppError as refusal:
            prepared.append(refusal)
    keys = [_given_key(item) for item in body.items]
    if body.mode is BatchMode.ATOMIC:
        outcomes = await _atomic(db, settings, prepared)
    else:
        outcomes = await _independent(db, settings, prepared)
    return BatchOutcome(
        body.mode,
        [
            ItemOutcome(index, key, outcome)
            for index, (key, outcome) in enumerate(zip(keys, outcomes, strict=True))
        ],
    )


async def _independent(
    db: Database, settings: Settings, prepared: list[MoneyMovement | AppError]
) -> list[MovementOutcome]:
    commits = writer.writer_of(db, settings)
    # Queued in item order, all before the first await: the writer takes them in that order.
    waiting = {
        index: asyncio.wrap_future(commits.submit(movement))
        for index, movement in enumerate(prepared)
        if isinstance(movement, MoneyMovement)
    }
    answers = await asyncio.gather(*waiting.values(), return_exceptions=True)
    answered = dict(zip(waiting, answers, strict=True))
    outcomes: list[MovementOutcome] = []
    for index, movement in enumerate(prepared):
        if isinstance(movement, AppError):
            outcomes.append(Refused(movement))
            continue
        answer = answered[index]
        outcomes.append(answer if not isinstance(answer, BaseException) else _failed(index, answer))
    return outcomes


def _failed(index: int, error: BaseException) -> MovementOutcome:
    """The refusal of an item whose movement raised instead of answering (nothing was written)."""
    if isinstance(error, AppError):
        return Refused(error)
    if isinstance(error, LostRace) or is_retryable(error):
        return Refused(TryAgain("the ledger was busy and this item was not done; send it again"))
    if isinstance(error, Exception) and unique_violation(error) is not None:
        return Refused(Conflict("this item conflicts with a record created at the same moment"))
    if not isinstance(error, Exception):
        raise error  # cancellation and the like are not an item's business
    logger.error("batch item %d failed: %s", index, type(error).__name__, exc_info=error)
    return Refused(ItemFailed("an unexpected error occurred; nothing of this item was written"))


async def _atomic(
    db: Database, settings: Settings, prepared: list[MoneyMovement | AppError]
) -> list[MovementOutcome]:
    invalid = [index for index, movement in enumerate(prepared) if isinstance(movement, AppError)]
    if invalid:
        culprits = ", ".join(str(index) for index in invalid)
        which = f"item {culprits} of this atomic batch is" if len(invalid) == 1 else f"items {culprits} are"
        return [
            Refused(movement)
            if isinstance(movement, AppError)
            else Refused(LinkedFailed(f"nothing moved: {which} invalid"))
            for movement in prepared
        ]
    movements = [movement for movement in prepared if isinstance(movement, MoneyMovement)]
    return await asyncio.wrap_future(writer.writer_of(db, settings).submit_atomic(movements))
