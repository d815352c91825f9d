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
from gopherpayd.transfers.models import IdempotencyRecord
from gopherpayd.transfers.outcomes import Moved, MovementOutcome, Refused
from gopherpayd.transfers.schemas import TransferOut

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


def remember(record: IdempotencyRecord, outcome: MovementOutcome) -> None:
    """Keep `outcome` in `record`, so that every later request with its key gets it too."""
    if isinstance(outcome, Moved):
        record.status_code, document = MOVED_STATUS, outcome.transfer.model_dump(mode="json")
    else:
        record.status_code, document = outcome.refusal.status, outcome.refusal.to_problem()
    record.response_body = _encode(document)


def replay(record: IdempotencyRecord) -> MovementOutcome:
    """The outcome `record` keeps, marked as replayed."""
    document = json.loads(record.response_body)
    if record.status_code < 400:
        return Moved(TransferOut.model_validate(document), replayed=True)
    return Refused(StoredRefusal(record.status_code, document), replayed=True)


def as_stored(document: dict[str, Any]) -> dict[str, Any]:
    """`document` as a record keeps it (keys sorted): the form in which replays have always answered."""
    stored: dict[str, Any] = json.loads(_encode(document))
    return stored


def _encode(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True)
