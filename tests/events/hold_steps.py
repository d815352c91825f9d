"""Holds driven through a running pipeline's API, each step recorded as what it must cause.

Every step a hold takes (placed, captured, voided, declined, expired) tells its payer and its
payee, each through the step's own Novu workflow and inbox entry; a capture also moves money,
which both hear of as a transfer. `PipelineHold` is the test's own account of a hold, kept from
what the test asked for, so the expected payloads never come from the daemon's answers (only
the ids and the expiry the daemon chose do).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.events.pipeline import CURRENCY, Pipeline, usd, wait_until
from tests.support.api import Account

HOLD_WORKFLOWS = {
    "hold.placed": "hold-placed",
    "hold.captured": "hold-captured",
    "hold.voided": "hold-voided",
    "hold.declined": "hold-declined",
    "hold.expired": "hold-expired",
}
HOLD_TITLES = {
    # event type: (the payer's inbox title, the payee's)
    "hold.placed": ("You placed a hold of {amount} for {who}", "{who} placed a hold of {amount} for you"),
    "hold.captured": ("{who} was paid {amount} from your hold", "You received {amount} from {who}'s hold"),
    "hold.voided": ("Your hold for {who} was voided", "{who} voided their hold for you"),
    "hold.declined": ("{who} declined your hold", "You declined {who}'s hold"),
    "hold.expired": ("Your hold for {who} expired", "{who}'s hold for you expired"),
}
EXPIRY_TIMEOUT = 15.0
"""Seconds to wait for the daemon's sweeper to expire a hold whose expiry has passed."""


@dataclass
class PipelineHold:
    id: str
    payer: Account
    payee: Account
    amount: int
    memo: str | None
    expires_at: str
    """As the daemon's events write it (ISO 8601 with its UTC offset)."""
    captured: int = 0
    released: int = 0
    status: str = "open"

    @property
    def remaining(self) -> int:
        return self.amount - self.captured - self.released


def place_hold(
    pipeline: Pipeline,
    payer: Account,
    payee: Account,
    amount: int,
    memo: str | None,
    *,
    expires_in: int = 3_600,
) -> PipelineHold:
    body = {"to": payee.email, "amount": amount, "currency": CURRENCY, "memo": memo, "expires_in": expires_in}
    placed = _post(pipeline, payer, "/v1/holds", body)
    assert (placed["status"], placed["amount"], placed["remaining"]) == ("open", amount, amount), placed
    expires_at = datetime.fromisoformat(placed["expires_at"]).isoformat()
    hold = PipelineHold(placed["id"], payer, payee, amount, memo, expires_at)
    _expect_step(pipeline, hold, "hold.placed", amount)
    return hold


def capture_hold(pipeline: Pipeline, hold: PipelineHold, amount: int) -> dict[str, Any]:
    """The payer captures `amount` of the hold: a transfer to the payee, and the step."""
    captured = _post(pipeline, hold.payer, f"/v1/holds/{hold.id}/capture", {"amount": amount})
    hold.captured += amount
    if hold.remaining == 0:
        hold.status = "captured"
    assert (captured["captured"], captured["remaining"]) == (hold.captured, hold.remaining), captured
    transfer = dict(captured["capture"])
    assert (transfer["amount"], transfer["memo"]) == (amount, hold.memo), transfer
    pipeline.expect_transfer(hold.payer, hold.payee, amount, hold.memo, transfer["id"])
    _expect_step(pipeline, hold, "hold.captured", amount, transfer["id"])
    return transfer


def void_hold(pipeline: Pipeline, hold: PipelineHold) -> None:
    """The payer voids the hold: what is left goes back to them."""
    _release(pipeline, hold, hold.payer, "void", "voided")


def decline_hold(pipeline: Pipeline, hold: PipelineHold) -> None:
    """The payee declines the hold: what is left goes back to the payer."""
    _release(pipeline, hold, hold.payee, "decline", "declined")


def await_expiry(pipeline: Pipeline, hold: PipelineHold, timeout: float = EXPIRY_TIMEOUT) -> None:
    """Wait until the daemon's own sweeper has expired the hold (nobody asks it to)."""

    def expired() -> dict[str, Any] | None:
        response = pipeline.client.get(f"/v1/holds/{hold.id}", headers=hold.payer.headers)
        assert response.status_code == 200, response.text
        body = dict(response.json())
        return body if body["status"] != "open" else None

    swept = wait_until(f"the sweeper to expire hold {hold.id}", expired, timeout)
    released = hold.remaining
    hold.released += released
    hold.status = "expired"
    assert (swept["status"], swept["released"], swept["remaining"]) == ("expired", hold.released, 0), swept
    _expect_step(pipeline, hold, "hold.expired", released)


def _release(pipeline: Pipeline, hold: PipelineHold, who: Account, action: str, status: str) -> None:
    released = hold.remaining
    answer = _post(pipeline, who, f"/v1/holds/{hold.id}/{action}", {})
    hold.released += released
    hold.status = status
    assert (answer["status"], answer["released"], answer["remaining"]) == (status, hold.released, 0), answer
    _expect_step(pipeline, hold, f"hold.{status}", released)


def _post(pipeline: Pipeline, who: Account, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = pipeline.client.post(
        path, json=body, headers={**who.headers, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def _expect_step(
    pipeline: Pipeline, hold: PipelineHold, event_type: str, moved: int, transfer_id: str | None = None
) -> None:
    """The payer and the payee each get the step once: its workflow, payload and inbox title."""
    payer_title, payee_title = HOLD_TITLES[event_type]
    sides = [(hold.payer, hold.payee, "payer", payer_title), (hold.payee, hold.payer, "payee", payee_title)]
    for party, other, role, title in sides:
        payload = {
            "email": party.email,
            "amount": usd(moved),
            "amount_minor": moved,
            "currency": CURRENCY,
            "counterparty": other.email,
            "memo": hold.memo,
            "new_balance": None,
            "transfer_id": transfer_id,
            "hold_id": hold.id,
            "status": hold.status,
            "role": role,
            "remaining": usd(hold.remaining),
            "expires_at": hold.expires_at,
        }
        pipeline.expect(
            HOLD_WORKFLOWS[event_type],
            party,
            event_type,
            payload=payload,
            facts={"hold_id": hold.id, "captured": hold.captured, "released": hold.released},
            inbox_title=title.format(amount=usd(moved), who=other.email),
        )
