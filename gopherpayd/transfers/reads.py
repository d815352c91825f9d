"""What a batch of movements reads before it locks anything, fetched in a few statements.

Each movement names what its selectors will look up (`ReadHints`); the engine fetches
all of it for the whole batch at once: one query for the users, one for their open
wallets, the named wallets and the system wallets. The selectors then read from these
caches. A lookup nobody hinted at still works, with a query of its own, so a missing hint
costs time, never correctness. Nothing here is locked: the engine locks the wallets it
will change afterwards, in one statement, and rechecks under that lock what can change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlmodel import Session

from gopherpayd.identity.models import User
from gopherpayd.kit.models import table_of
from gopherpayd.transfers.models import Hold
from gopherpayd.vocabulary import WalletKind
from gopherpayd.wallets.models import Wallet

USERS = table_of(User).c
WALLETS = table_of(Wallet).c
HOLDS = table_of(Hold).c


@dataclass(frozen=True, slots=True)
class UserRow:
    """The columns of a user that the transfer rules read."""

    id: uuid.UUID
    email: str
    full_name: str
    frozen: bool
    email_verified_at: datetime | None


@dataclass(frozen=True, slots=True)
class WalletRow:
    """The columns of a wallet that the transfer rules read (the balance is read under the lock)."""

    id: uuid.UUID
    owner_id: uuid.UUID | None
    currency: str
    kind: str
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class HoldRow:
    """What never changes of a hold: its parties and currency (its state is read under the lock)."""

    id: uuid.UUID
    payer_wallet_id: uuid.UUID
    payee_wallet_id: uuid.UUID
    currency: str


@dataclass(frozen=True)
class ReadHints:
    """What a movement's selectors will ask for."""

    users: tuple[uuid.UUID, ...] = ()
    """Users by id; their open wallets come with them."""
    emails: tuple[str, ...] = ()
    """Users by normalized email; their open wallets come with them."""
    wallets: tuple[uuid.UUID, ...] = ()
    """Wallets by id, with their owners."""
    system_currencies: tuple[str, ...] = ()
    """System wallets by currency."""
    fx_currencies: tuple[str, ...] = ()
    """The FX house and revenue wallets of these currencies."""
    holds: tuple[uuid.UUID, ...] = ()
    """Holds by id, with their wallets and those wallets' owners."""


class BatchReads:
    """The users and wallets one batch reads, cached for the length of its transaction.

    Plain rows through SQLAlchemy Core: no ORM identity map or unit of work on the hot path.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._users: dict[uuid.UUID, UserRow | None] = {}
        self._by_email: dict[str, UserRow | None] = {}
        self._wallets: dict[uuid.UUID, WalletRow | None] = {}
        self._open: dict[tuple[uuid.UUID, str], WalletRow] = {}
        self._owners_loaded: set[uuid.UUID] = set()
        """Users whose open wallets are all in `_open`: a miss there means they have none."""
        self._unowned: dict[tuple[str, str], WalletRow | None] = {}
        """The wallets no one owns (system, FX house, FX revenue) by (kind, currency)."""
        self._holds: dict[uuid.UUID, HoldRow | None] = {}

    def prefetch(self, hints: Iterable[ReadHints]) -> None:
        user_ids: set[uuid.UUID] = set()
        emails: set[str] = set()
        wallet_ids: set[uuid.UUID] = set()
        currencies: set[tuple[str, str]] = set()
        hold_ids: set[uuid.UUID] = set()
        for hint in hints:
            hold_ids.update(hint.holds)
            user_ids.update(hint.users)
            emails.update(hint.emails)
            wallet_ids.update(hint.wallets)
            currencies.update((WalletKind.SYSTEM, currency) for currency in hint.system_currencies)
            for currency in hint.fx_currencies:
                currencies |= {(WalletKind.FX_HOUSE, currency), (WalletKind.FX_REVENUE, currency)}
        for hold in self._load_holds(hold_ids):
            wallet_ids.update((hold.payer_wallet_id, hold.payee_wallet_id))
        self._load_users(user_ids, emails)
        self._load_wallets({u.id for u in self._users.values() if u is not None}, wallet_ids, currencies)
        owners = {w.owner_id for w in self._wallets.values() if w is not None and w.owner_id is not None}
        self._load_users(owners - self._users.keys(), set())

    def _load_holds(self, hold_ids: set[uuid.UUID]) -> list[HoldRow]:
        if not hold_ids:
            return []
        query = select(HOLDS.id, HOLDS.payer_wallet_id, HOLDS.payee_wallet_id, HOLDS.currency).where(
            HOLDS.id.in_(hold_ids)
        )
        found = [HoldRow(*row) for row in self.session.execute(query).all()]
        for hold_id in hold_ids:
            self._holds[hold_id] = None
        for hold in found:
            self._holds[hold.id] = hold
        return found

    def hold(self, hold_id: uuid.UUID) -> HoldRow | None:
        if hold_id not in self._holds:
            for found in self._load_holds({hold_id}):
                self._load_wallets(set(), {found.payer_wallet_id, found.payee_wallet_id}, set())
        return self._holds[hold_id]

    def _load_users(self, user_ids: set[uuid.UUID], emails: set[str]) -> None:
        if not user_ids and not emails:
            return
        query = select(USERS.id, USERS.email, USERS.full_name, USERS.frozen, USERS.email_verified_at).where(
            or_(USERS.id.in_(user_ids), USERS.email.in_(emails))
        )
        for row in self.session.execute(query).all():
            user = UserRow(row.id, row.email, row.full_name, bool(row.frozen), row.email_verified_at)
            self._users[user.id] = user
            self._by_email[user.email] = user
        for user_id in user_ids:
            self._users.setdefault(user_id, None)
        for email in emails:
            self._by_email.setdefault(email, None)

    def _load_wallets(
        self, owner_ids: set[uuid.UUID], wallet_ids: set[uuid.UUID], unowned: set[tuple[str, str]]
    ) -> None:
        wanted = []
        if owner_ids:
            wanted.append(
                and_(
                    WALLETS.owner_id.in_(owner_ids),
                    WALLETS.closed_at.is_(None),
                    WALLETS.kind == WalletKind.USER,
                )
            )
        if wallet_ids:
            wanted.append(WALLETS.id.in_(wallet_ids))
        for kind in {kind for kind, _ in unowned}:
            of_kind = {currency for wanted_kind, currency in unowned if wanted_kind == kind}
            wanted.append(and_(WALLETS.kind == kind, WALLETS.currency.in_(of_kind)))
        if not wanted:
            return
        columns = (WALLETS.id, WALLETS.owner_id, WALLETS.currency, WALLETS.kind, WALLETS.closed_at)
        for row in self.session.execute(select(*columns).where(or_(*wanted))).all():
            self._remember_wallet(WalletRow(row.id, row.owner_id, row.currency, row.kind, row.closed_at))
        self._owners_loaded |= owner_ids
        for wallet_id in wallet_ids:
            self._wallets.setdefault(wallet_id, None)
        for kind_currency in unowned:
            self._unowned.setdefault(kind_currency, None)

    def _remember_wallet(self, wallet: WalletRow) -> None:
        self._wallets[wallet.id] = wallet
        if wallet.kind != WalletKind.USER:
            self._unowned[(wallet.kind, wallet.currency)] = wallet
        elif wallet.closed_at is None and wallet.owner_id is not None:
            self._open[(wallet.owner_id, wallet.currency)] = wallet

    def user(self, user_id: uuid.UUID) -> UserRow | None:
        if user_id not in self._users:
            self._load_users({user_id}, set())
        return self._users[user_id]

    def user_by_email(self, email: str) -> UserRow | None:
        """The user with this (normalized) email."""
        if email not in self._by_email:
            self._load_users(set(), {email})
        return self._by_email[email]

    def wallet(self, wallet_id: uuid.UUID) -> WalletRow | None:
        if wallet_id not in self._wallets:
            self._load_wallets(set(), {wallet_id}, set())
        return self._wallets[wallet_id]

    def open_user_wallet(self, owner_id: uuid.UUID, currency: str) -> WalletRow | None:
        found = self._open.get((owner_id, currency))
        if found is not None or owner_id in self._owners_loaded:
            return found
        self._load_wallets({owner_id}, set(), set())
        return self._open.get((owner_id, currency))

    def system_wallet(self, currency: str) -> WalletRow | None:
        return self.unowned_wallet(WalletKind.SYSTEM, currency)

    def unowned_wallet(self, kind: WalletKind, currency: str) -> WalletRow | None:
        """The one wallet of `kind` (system, FX house or FX revenue) in `currency`, if opened."""
        if (kind, currency) not in self._unowned:
            self._load_wallets(set(), set(), {(kind, currency)})
        return self._unowned[(kind, currency)]
