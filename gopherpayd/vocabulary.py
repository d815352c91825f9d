"""The words the ledger, the database and the CLI share: kinds, roles, event types.

Each is a `StrEnum`, so a member is the very string that is stored, sent and compared, and a
typo is a name error instead of a value nobody matches. The CHECK constraints that hold a
column to one of these lists are generated from them (`one_of`). This module knows
no domain rule and imports nothing of GopherPay: the CLI may import it too.
"""

from __future__ import annotations

from enum import StrEnum


class TransferKind(StrEnum):
    """What a transfer is (transfers.kind, ck_transfers_kind)."""

    TRANSFER = "transfer"
    """A user sending money to another user."""
    DEPOSIT = "deposit"
    """Money from the outside world (the system wallet) into a user's wallet."""
    WITHDRAWAL = "withdrawal"
    """Money from a user's wallet out to the outside world."""
    REVERSAL = "reversal"
    """An operator's compensating transfer: another one's amount, back the other way."""
    EXCHANGE = "exchange"
    """A user's money from one of their wallets to their own wallet in another currency, on a
    locked FX quote: the amount is the sell side, the quote (transfers.quote_id) has both."""
    FX_TRANSFER = "fx_transfer"
    """A user sending money to another user who receives it in another currency, on a locked
    FX quote: the amount is what the sender pays, the quote says what the recipient gets."""


class WalletKind(StrEnum):
    """Whose wallet it is (wallets.kind, ck_wallets_kind)."""

    USER = "user"
    """A user's money: never below zero."""
    SYSTEM = "system"
    """The outside world, one per currency: minus the money that came into GopherPay."""
    FX_HOUSE = "fx_house"
    """The FX house, one per currency: it buys the sell currency and pays out the buy currency
    of every exchange, so its balance is the house's position in that currency (it may go
    below zero)."""
    FX_REVENUE = "fx_revenue"
    """What the FX spread earned, one per currency (the fee leg of every exchange); never below zero."""


class Role(StrEnum):
    """What an account may do (users.role, ck_users_role, the access token's `role` claim)."""

    USER = "user"
    ADMIN = "admin"
    """An operator: the admin endpoints and commands."""


class TokenScope(StrEnum):
    """What a long-lived API token may do (api_tokens.scope, ck_api_tokens_scope)."""

    READ = "read"
    """Look only: GET requests. It can never move money or change anything."""
    TRANSFER = "transfer"
    """Everything its owner may do over the API, except managing API tokens."""


class EventType(StrEnum):
    """Every event written to the outbox; outbox.catalog says where each one goes."""

    USER_SIGNED_UP = "user.signed_up"
    USER_EMAIL_VERIFICATION = "user.email_verification"
    USER_NEW_LOGIN = "user.new_login"
    ACCOUNT_FROZEN = "account.frozen"
    ACCOUNT_UNFROZEN = "account.unfrozen"
    TRANSFER_SENT = "transfer.sent"
    TRANSFER_RECEIVED = "transfer.received"
    TRANSFER_REVERSED = "transfer.reversed"
    WALLET_DEPOSIT = "wallet.deposit"
    WALLET_WITHDRAWAL = "wallet.withdrawal"
    WALLET_FROZEN = "wallet.frozen"
    WALLET_UNFROZEN = "wallet.unfrozen"
    HOLD_PLACED = "hold.placed"
    HOLD_CAPTURED = "hold.captured"
    HOLD_VOIDED = "hold.voided"
    HOLD_DECLINED = "hold.declined"
    HOLD_EXPIRED = "hold.expired"
    FX_EXCHANGED = "fx.exchanged"


class HoldStatus(StrEnum):
    """Where a hold stands (holds.status, ck_holds_status)."""

    OPEN = "open"
    """Reserving money: what is neither captured nor released is held in the payer's wallet."""
    CAPTURED = "captured"
    """Captured in full: every reserved unit went to the payee."""
    VOIDED = "voided"
    """Ended by the payer (or an operator): what was not captured was released."""
    DECLINED = "declined"
    """Ended by the payee: what was not captured was released."""
    EXPIRED = "expired"
    """Its expiry passed while open: what was not captured was released."""


class HoldAction(StrEnum):
    """What a hold movement does (the operation part of its idempotency hash)."""

    PLACE = "place"
    CAPTURE = "capture"
    VOID = "void"
    DECLINE = "decline"
    EXTEND = "extend"
    EXPIRE = "expire"


class StreamFrame(StrEnum):
    """The SSE event names of a user's live stream (`gopherpay history --follow` reads them)."""

    TRANSFER = "transfer"
    """A transfer event, carrying the Transfer object."""
    NOTIFICATION = "notification"
    """Any other event shown to the user, carrying its inbox title and body."""


def one_of(column: str, values: type[StrEnum]) -> str:
    """The SQL condition holding `column` to the members of `values`, in their order:
    `one_of("role", Role) == "role IN ('user', 'admin')"`, the text the migrations wrote."""
    quoted = ", ".join("'" + member.value.replace("'", "''") + "'" for member in values)
    return f"{column} IN ({quoted})"
