"""Outcomes kept under idempotency keys: the one codec between an outcome and its record.

A record keeps the answer the first request got, in the form it has had from the start: the
status code (201 for a transfer, the refusal's own status otherwise) and the JSON document
(the Transfer object, or the refusal's problem document) with its keys sorted. A replay
decodes it back into the same outcome, so it answers as the first request was answered,
records written by earlier versions included.
"""

from __future__ import annotations

import json
from typing import Any

from gopherpayd.kit.errors import AppError
from gopherpayd.transfers.outcomes import HoldChanged, Moved, MovementOutcome, Refused
from gopherpayd.transfers.schemas import HoldOut, TransferOut

MOVED_STATUS = 201
"""The status a record keeps for money that moved."""


class StoredRefusal(AppError):
    """A refusal given earlier under an idempotency key, answered again word for word."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail", "")))
        self.status = status
        self.code = str(problem.get("code", self.code))
        self.title = str(problem.get("title", self.title))
        self._problem = problem

    def to_problem(self) -> dict[str, Any]:
        return dict(self._problem)


def encode(outcome: MovementOutcome, *, request_id: str | None = None) -> tuple[int, str]:
    """What a record keeps of `outcome`: (status_code, response_body). A refusal's problem
    document carries `request_id`, the id of the request it refused."""
    if isinstance(outcome, Moved):
        return MOVED_STATUS, _encode(outcome.transfer.model_dump(mode="json"))
    if isinstance(outcome, HoldChanged):
        return MOVED_STATUS, _encode(outcome.hold.model_dump(mode="json"))
    problem = outcome.refusal.to_problem()
    if request_id is not None:
        problem = {**problem, "request_id": request_id}
    return outcome.refusal.status, _encode(problem)


def decode(status_code: int, response_body: str, *, hold: bool = False) -> MovementOutcome:
    """The outcome a record keeps, marked as replayed (`hold`: the record of a hold operation,
    whose success is the Hold object)."""
    document = json.loads(response_body)
    if status_code < 400 and hold:
        return HoldChanged(HoldOut.model_validate(document), replayed=True, encoded=_encode(document))
    if status_code < 400:
        return Moved(TransferOut.model_validate(document), replayed=True, encoded=_encode(document))
    return Refused(StoredRefusal(status_code, document), replayed=True, encoded=_encode(document))


def as_stored(document: dict[str, Any]) -> dict[str, Any]:
    """`document` as a record keeps it (keys sorted): the form in which replays have always answered."""
    stored: dict[str, Any] = json.loads(_encode(document))
    return stored


def _encode(document: dict[str, Any]) -> str:
    """Keys sorted, compact, UTF-8 as is: the bytes a JSON response of the document carries.

    Records written before this form (with spaces after separators, non-ASCII escaped)
    decode alike; a replay of one answers in this form, as replays always have.
    """
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
