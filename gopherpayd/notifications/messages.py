"""What each event says to a person: inbox title and body, and the Novu payload."""

from __future__ import annotations

from typing import Any

from gopherpayd.events.envelope import Event
from gopherpayd.identity import verification
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import EventType
from gopherpayd.wallets.currencies import CURRENCIES, format_minor


def _money(payload: dict[str, Any], key: str) -> str:
    currency = payload.get("currency")
    amount = payload.get(key)
    if currency in CURRENCIES and isinstance(amount, int):
        return format_minor(amount, str(currency))
    return f"{amount} {currency}"


def novu_payload(event: Event, settings: Settings) -> dict[str, Any]:
    """Amounts in major units with their currency, counterparty, memo, new balance; the
    verification code opened (CodeUnreadable when it does not open)."""
    payload = event.payload
    data: dict[str, Any] = {"event_id": str(event.id), "email": payload.get("email")}
    if "amount" in payload:
        data.update(
            amount=_money(payload, "amount"),
            amount_minor=payload["amount"],
            currency=payload.get("currency"),
            counterparty=payload.get("counterparty"),
            memo=payload.get("memo"),
            new_balance=_money(payload, "new_balance") if "new_balance" in payload else None,
            transfer_id=payload.get("transfer_id"),
        )
    if "quote_id" in payload:
        data.update(
            quote_id=payload["quote_id"],
            sold=_money({"currency": payload.get("sell_currency"), "x": payload.get("sell_amount")}, "x"),
            bought=_money({"currency": payload.get("buy_currency"), "x": payload.get("buy_amount")}, "x"),
            rate=payload.get("rate"),
        )
    if "hold_id" in payload:
        data.update(
            hold_id=payload["hold_id"],
            status=payload.get("status"),
            role=payload.get("role"),
            remaining=_money(payload, "remaining"),
            expires_at=payload.get("expires_at"),
        )
    sealed = payload.get(verification.SEALED_CODE_KEY)
    if sealed is not None:
        data["code"] = verification.open_code(settings, event.user_id, str(sealed))
    for key in ("expires_in", "full_name", "user_agent", "client_ip", "currency"):
        if key in payload:
            data[key] = payload[key]
    return data


def inbox_message(event: Event) -> tuple[str, str]:
    """(title, body) for the in-app inbox."""
    p = event.payload
    memo = f" — {p['memo']}" if p.get("memo") else ""
    balance = f" New balance: {_money(p, 'new_balance')}." if "new_balance" in p else ""
    counterparty = p.get("counterparty") or "the outside world"
    bought = _money({"currency": p.get("buy_currency"), "x": p.get("buy_amount")}, "x")
    match event.type:
        case EventType.TRANSFER_SENT if "quote_id" in p:
            return f"You sent {_money(p, 'amount')}", f"{counterparty} received {bought}{memo}.{balance}"
        case EventType.TRANSFER_SENT:
            return f"You sent {_money(p, 'amount')}", f"To {counterparty}{memo}.{balance}"
        case EventType.FX_EXCHANGED:
            return (
                f"You exchanged {_money(p, 'amount')} for {bought}",
                f"At {p.get('rate')}{memo}.{balance}",
            )
        case EventType.TRANSFER_RECEIVED:
            return f"You received {_money(p, 'amount')}", f"From {counterparty}{memo}.{balance}"
        case EventType.TRANSFER_REVERSED:
            verb = "returned to you" if p.get("direction") == "in" else "taken back"
            return f"{_money(p, 'amount')} {verb}", f"An operator reversed a transfer{memo}.{balance}"
        case EventType.WALLET_DEPOSIT:
            return (
                f"Deposit of {_money(p, 'amount')}",
                f"Money arrived from outside GopherPay{memo}.{balance}",
            )
        case EventType.WALLET_WITHDRAWAL:
            return f"Withdrawal of {_money(p, 'amount')}", f"Money paid out of GopherPay{memo}.{balance}"
        case EventType.USER_SIGNED_UP:
            return "Welcome to GopherPay", f"Your account {p.get('email')} is ready."
        case EventType.USER_NEW_LOGIN:
            where = p.get("client_ip") or "an unknown address"
            return "New login to your account", f"From {where} ({p.get('user_agent') or 'unknown client'})."
        case EventType.ACCOUNT_FROZEN:
            return "Your account is frozen", "Logins and payments are blocked. Contact support."
        case EventType.ACCOUNT_UNFROZEN:
            return "Your account is active again", "Logins and payments work again."
        case EventType.WALLET_FROZEN:
            return f"Your {p.get('currency')} wallet is frozen", "It can neither send nor receive money."
        case EventType.WALLET_UNFROZEN:
            return f"Your {p.get('currency')} wallet is active again", "It can send and receive money."
    if event.type in _HOLD_WORDS:
        return _hold_message(event.type, p, counterparty, memo)
    return event.type, ""


_HOLD_WORDS: dict[str, tuple[str, str]] = {
    EventType.HOLD_PLACED: (
        "You placed a hold of {amount} for {who}",
        "{who} placed a hold of {amount} for you",
    ),
    EventType.HOLD_CAPTURED: (
        "{who} was paid {amount} from your hold",
        "You received {amount} from {who}'s hold",
    ),
    EventType.HOLD_VOIDED: ("Your hold for {who} was voided", "{who} voided their hold for you"),
    EventType.HOLD_DECLINED: ("{who} declined your hold", "You declined {who}'s hold"),
    EventType.HOLD_EXPIRED: ("Your hold for {who} expired", "{who}'s hold for you expired"),
}
"""(payer's title, payee's title) per hold event."""


def _hold_message(event_type: str, p: dict[str, Any], counterparty: str, memo: str) -> tuple[str, str]:
    payer_title, payee_title = _HOLD_WORDS[event_type]
    title = (payee_title if p.get("role") == "payee" else payer_title).format(
        amount=_money(p, "amount"), who=counterparty
    )
    if event_type in (EventType.HOLD_PLACED, EventType.HOLD_CAPTURED):
        detail = f"{_money(p, 'remaining')} still held, until {p.get('expires_at')}"
    else:
        detail = f"{_money(p, 'amount')} released to the payer"
    return title, f"{detail}{memo}."
