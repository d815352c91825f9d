"""What a money movement asks for: the amount, where the money comes from and goes to
(selectors the batch resolves), under which key and session, and an optional hold operation
or FX quote. `engine.execute` runs a batch of them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import Session

from gopherpayd.audit import service as audit_log
from gopherpayd.fx.terms import QuoteTerms
from gopherpayd.transfers.hold_rules import HoldOp
from gopherpayd.transfers.reads import BatchReads, ReadHints, WalletRow
from gopherpayd.vocabulary import TransferKind, WalletKind

MAX_AMOUNT_MINOR = 2**63 - 1
"""The largest amount a BIGINT holds."""


@dataclass(frozen=True)
class WalletTarget:
    """Where money goes or comes from: an existing wallet, or one to open under the lock."""

    wallet: WalletRow | None = None
    open_for_owner: uuid.UUID | None = None
    open_unowned: WalletKind | None = None
    """The kind of owner-less wallet (system, FX house, FX revenue) to open when there is none."""
    currency: str = ""
    owner_frozen: bool = False
    owner_label: str = ""
    refuse_frozen_owner: bool = False
    """Refuse the movement when the owner is frozen: checked again under the owner's row lock,
    so a freeze that commits while the batch waits for its locks still stops it."""


Selector = Callable[[BatchReads], WalletTarget]


@dataclass(frozen=True)
class IdempotencyClaim:
    scope: str
    key: str
    request_hash: str
    request_id: str | None = field(default=None, compare=False)
    """The request that made the claim: a refusal's stored document names it (`request_id`),
    so the first answer and every replay carry the id of the request that was refused."""


@dataclass(frozen=True)
class SessionGuard:
    """The login a movement is made under, checked by its batch: the session must exist,
    belong to the user, not be revoked, and its account not be frozen. One query per batch
    instead of a transaction per request; a revocation that committed before the batch
    began stops the movement, whichever process made it."""

    session_id: uuid.UUID
    user_id: uuid.UUID


@dataclass(frozen=True)
class MoneyMovement:
    kind: TransferKind
    amount: int
    """Minor units of `currency`, > 0."""
    currency: str
    source: Selector
    destination: Selector
    initiated_by: uuid.UUID
    memo: str | None = None
    idempotency: IdempotencyClaim | None = None
    reverses_transfer_id: uuid.UUID | None = None
    audit: audit_log.AuditNote | None = None
    precheck: Callable[[Session], None] | None = None
    """Rules that need the database before any wallet is touched (e.g. not reversed yet)."""
    reads: ReadHints = ReadHints()
    """What the selectors will look up, fetched for the whole batch at once."""
    session: SessionGuard | None = None
    """The caller's session when the endpoint left its check to the batch."""
    hold: HoldOp | None = None
    """A hold operation instead of a plain transfer: `source` selects the payer's wallet and
    `destination` the payee's (the payer's again for operations that move nothing to the payee)."""
    fx: QuoteTerms | None = None
    """An FX quote to execute, as read when the request came in (the batch reads it again under
    its row lock and uses it only while it is the caller's, unused and unexpired): `amount` and
    `currency` are its sell side, `source` selects the payer's wallet in that currency and
    `destination` the recipient's in the buy currency."""
