"""FX executions inside a batch: a quote, locked and checked, becomes one transfer whose
entries are its legs (payer -> FX house and revenue in the sell currency, FX house ->
recipient in the buy currency)."""

from __future__ import annotations

import uuid

from gopherpayd.fx import legs as fx_legs
from gopherpayd.fx.errors import QuoteUsed
from gopherpayd.fx.service import quote_refusal
from gopherpayd.fx.terms import QuoteTerms
from gopherpayd.outbox import service as outbox
from gopherpayd.transfers import hold_rules
from gopherpayd.transfers.batch_state import (
    LockedWallet,
    Pending,
    Writes,
    funds,
    materialize,
    record_transfer,
    refuse_frozen,
    refuse_overflow,
)
from gopherpayd.transfers.errors import (
    InsufficientFunds,
)
from gopherpayd.transfers.ledger_rules import (
    check_entries_balance,
    check_user_balance_non_negative,
    check_wallet_open,
)
from gopherpayd.transfers.movements import WalletTarget
from gopherpayd.transfers.reads import BatchReads
from gopherpayd.transfers.schemas import FxOut, TransferOut
from gopherpayd.vocabulary import EventType, TransferKind, WalletKind
from gopherpayd.wallets.currencies import format_minor


def fx_wallets(reads: BatchReads, sell: str, op: QuoteTerms) -> tuple[WalletTarget, ...]:
    """The FX house's wallets in the sell and the buy currency, and the revenue wallet of the
    sell currency: each opened (under the batch, by the first movement that needs it) if need be."""

    def target(kind: WalletKind, currency: str) -> WalletTarget:
        wallet = reads.unowned_wallet(kind, currency)
        label = "FX house" if kind == WalletKind.FX_HOUSE else "FX revenue"
        if wallet is None:
            return WalletTarget(open_unowned=kind, currency=currency, owner_label=label)
        return WalletTarget(wallet=wallet, currency=currency, owner_label=label)

    return (
        target(WalletKind.FX_HOUSE, sell),
        target(WalletKind.FX_HOUSE, op.buy_currency),
        target(WalletKind.FX_REVENUE, sell),
    )


def move_fx(
    reads: BatchReads, writes: Writes, item: Pending, locked: dict[uuid.UUID, LockedWallet]
) -> TransferOut:
    """Execute a quote: check it (under its row lock) and the wallets against the locked
    balances; if everything holds, record one transfer whose entries are the quote's legs."""
    movement, op = item.movement, item.movement.fx
    assert op is not None
    quote = writes.quotes.get(op.id)
    if quote is not None and quote.user_id == op.user_id and op.id in writes.used_quotes:
        # Executed by an earlier movement of this batch: used, as it will be once it commits.
        raise QuoteUsed(f"quote {op.id} was used by another request; ask for a new one")
    refusal = quote_refusal(quote, op.id, op.user_id, writes.now)
    if refusal is not None:
        raise refusal
    assert quote is not None
    if QuoteTerms.of(quote) != op:
        raise AssertionError(f"quote {quote.id} changed after it was read")  # quotes never change
    payer = materialize(item.source, locked, writes)
    recipient = materialize(item.destination, locked, writes)
    house_sell, house_buy, revenue = (materialize(target, locked, writes) for target in item.house)
    for wallet in (payer, recipient):
        check_wallet_open(wallet)
    refuse_frozen(payer, recipient)
    if payer.available < movement.amount:
        raise InsufficientFunds(
            f"wallet {payer.id} has {funds(payer)}, "
            f"the exchange needs {format_minor(movement.amount, movement.currency)}"
        )
    wallets = {
        (fx_legs.Party.PAYER, movement.currency): payer,
        (fx_legs.Party.HOUSE, movement.currency): house_sell,
        (fx_legs.Party.REVENUE, movement.currency): revenue,
        (fx_legs.Party.HOUSE, op.buy_currency): house_buy,
        (fx_legs.Party.RECIPIENT, op.buy_currency): recipient,
    }
    legs = [
        leg
        for leg in fx_legs.quote_legs(
            movement.currency, op.buy_currency, movement.amount, op.fee, op.buy_amount
        )
        if leg.amount > 0
    ]
    for leg in legs:
        refuse_overflow(
            wallets[(leg.source, leg.currency)], wallets[(leg.target, leg.currency)], leg.amount, leg.currency
        )
    # Every rule holds: from here on the quote is executed.
    for wallet in wallets.values():
        if wallet.opened:
            writes.opened[(wallet.kind, wallet.owner_id, wallet.currency)] = wallet
            locked[wallet.id] = wallet
    transfer_id = uuid.uuid4()
    entries: list[tuple[uuid.UUID, int, str]] = []
    for leg in legs:
        source, target = wallets[(leg.source, leg.currency)], wallets[(leg.target, leg.currency)]
        source.balance -= leg.amount
        target.balance += leg.amount
        entries += [(source.id, -leg.amount, leg.currency), (target.id, leg.amount, leg.currency)]
    check_entries_balance([(currency, signed) for _wallet_id, signed, currency in entries])
    check_user_balance_non_negative(payer)
    hold_rules.check_user_available_non_negative(payer)
    writes.used_quotes[op.id] = transfer_id
    body = record_transfer(
        reads, writes, movement, transfer_id, movement.amount, payer, recipient, entries, FxOut.of(op)
    )
    writes.announcements += _fx_announcements(body, payer.balance, recipient.balance)
    if movement.audit is not None:
        writes.audit_notes.append(movement.audit)
    return body


def _fx_announcements(
    transfer: TransferOut, payer_balance: int, recipient_balance: int
) -> list[outbox.Announcement]:
    """An exchange tells its owner fx.exchanged; a payment in another currency tells its sender
    transfer.sent (in what they paid) and its recipient transfer.received (in what they got)."""
    fx = transfer.fx
    assert fx is not None
    common = {
        "transfer_id": str(transfer.id),
        "kind": transfer.kind,
        "memo": transfer.memo,
        "quote_id": str(fx.quote_id),
        "sell_amount": fx.sell_amount,
        "sell_currency": fx.sell,
        "buy_amount": fx.buy_amount,
        "buy_currency": fx.buy,
        "fee": fx.fee,
        "rate": fx.rate,
    }
    sender, recipient = transfer.sender, transfer.recipient
    if transfer.kind == TransferKind.EXCHANGE:
        assert sender.user_id is not None
        payload = common | {
            "amount": fx.sell_amount,
            "currency": fx.sell,
            "direction": "out",
            "wallet_id": str(sender.wallet_id),
            "new_balance": payer_balance,
            "to_wallet_id": str(recipient.wallet_id),
            "to_new_balance": recipient_balance,
        }
        return [outbox.Announcement(EventType.FX_EXCHANGED, sender.user_id, payload)]
    sides = [
        (EventType.TRANSFER_SENT, sender, recipient, "out", fx.sell_amount, fx.sell, payer_balance),
        (EventType.TRANSFER_RECEIVED, recipient, sender, "in", fx.buy_amount, fx.buy, recipient_balance),
    ]
    return [
        outbox.Announcement(
            event_type,
            party.user_id,
            common
            | {
                "amount": amount,
                "currency": currency,
                "direction": direction,
                "wallet_id": str(party.wallet_id),
                "new_balance": balance,
                "counterparty": other.email or "outside world",
                "counterparty_wallet_id": str(other.wallet_id),
            },
        )
        for event_type, party, other, direction, amount, currency, balance in sides
        if party.user_id is not None
    ]
