"""Every ledger invariant in one list: its name, the Python check that enforces it, its
database twin, and the audit query that looks for rows breaking it.

An invariant is enforced twice (DESIGN.md, Money): by the engine before it writes, and by
the database whatever writes. `gopherpay admin audit` runs the audit queries of this list, in
its order, and reports each violation under the invariant's name. Some invariants have no
Python check of their own: the engine builds its rows so (`by construction` below). Some
have no audit query: their twin makes a violating row impossible to write, and the audit
was never asked to look for one. tests/test_invariants.py holds each twin to the databases
it names and each audit query to a clean ledger.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from gopherpayd.admin import repository
from gopherpayd.fx import legs as fx_legs
from gopherpayd.transfers import hold_rules, ledger_rules
from gopherpayd.vocabulary import TransferKind, WalletKind
from gopherpayd.wallets.models import CLOSED_IS_EMPTY

SQLITE = "sqlite"
POSTGRES = "postgresql"
BOTH_BACKENDS = frozenset({SQLITE, POSTGRES})
"""Dialect names, as SQLAlchemy spells them."""


@dataclass(frozen=True)
class Check:
    """A named CHECK constraint."""

    table: str
    name: str
    backends: frozenset[str] = BOTH_BACKENDS


@dataclass(frozen=True)
class Trigger:
    """A named trigger; SQLite has no deferred constraint triggers, so only on Postgres."""

    table: str
    name: str
    backends: frozenset[str] = frozenset({POSTGRES})


@dataclass(frozen=True)
class Unique:
    """A unique constraint on `columns`; unnamed, so each backend names it its own way."""

    table: str
    columns: tuple[str, ...]
    backends: frozenset[str] = BOTH_BACKENDS


Twin = Check | Trigger | Unique
Finding = tuple[str, str]
"""One violation an audit query found: its subject (`wallet:<id>`) and what is wrong."""


@dataclass(frozen=True)
class CurrencyLedger:
    """One currency's sums, as the audit reads them (exact: Python ints)."""

    currency: str
    wallets_total: int
    """Everything user wallets hold."""
    deposits: int
    """Everything that came in from the system wallet."""
    withdrawals: int
    """Everything that went out to the system wallet."""
    all_wallets: int
    """Every wallet, the system wallet included."""
    fx_house: int = 0
    """The FX house's position: what it bought minus what it paid out (may be below zero)."""
    fx_revenue: int = 0
    """What the FX spread earned."""


def currency_ledgers(session: Session) -> list[CurrencyLedger]:
    return [CurrencyLedger(*row) for row in repository.currency_totals(session)]


@dataclass(frozen=True)
class Invariant:
    name: str
    """What the audit reports a violation under."""
    statement: str
    python_check: Callable[..., None] | None
    """The function that refuses a write breaking it; None: the engine builds its rows so."""
    twins: tuple[Twin, ...] = ()
    """What makes the database refuse a violating row, whatever wrote it."""
    audit_query: Callable[[Session], list[Finding]] | None = None
    """The audit's search of the whole ledger for rows that break it."""
    currency_violation: Callable[[CurrencyLedger], str | None] | None = None
    """The audit's test of one currency's sums: what is wrong with them, or None."""

    @property
    def audited(self) -> bool:
        return self.audit_query is not None or self.currency_violation is not None


def _as_uuid(value: object) -> uuid.UUID:
    """Raw SQL hands back SQLite's 32-hex-digit ids as text; show every id one way."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _wallets_not_matching_entries(session: Session) -> list[Finding]:
    return [
        (
            f"wallet:{_as_uuid(wallet_id)}",
            f"balance {balance} {currency} but its entries sum to {total}",
        )
        for wallet_id, currency, balance, total in repository.wallets_not_matching_entries(session)
    ]


def _unbalanced_transfers(session: Session) -> list[Finding]:
    return [
        (
            f"transfer:{_as_uuid(transfer_id)}",
            f"{lines} entries summing to {total} {currency} (expected 2 summing to 0)",
        )
        for transfer_id, currency, total, lines in repository.unbalanced_transfers(session)
    ]


def _entries_not_matching_transfer(session: Session) -> list[Finding]:
    return [
        (
            f"entry:{_as_uuid(entry_id)}",
            f"entry of transfer {_as_uuid(transfer_id)} disagrees with it ({currencies})",
        )
        for entry_id, transfer_id, *currencies in repository.entries_not_matching_transfer(session)
    ]


def _negative_user_wallets(session: Session) -> list[Finding]:
    return [
        (
            f"wallet:{_as_uuid(wallet_id)}",
            f"balance {balance} {currency} is below zero",
        )
        for wallet_id, currency, balance in repository.negative_user_wallets(session)
    ]


def _closed_wallets_holding_money(session: Session) -> list[Finding]:
    return [
        (
            f"wallet:{_as_uuid(wallet_id)}",
            f"closed, yet holds {balance} {currency} its owner can no longer see",
        )
        for wallet_id, currency, balance in repository.closed_wallets_holding_money(session)
    ]


def _wallets_held_not_matching_holds(session: Session) -> list[Finding]:
    return [
        (f"wallet:{_as_uuid(wallet_id)}", f"holds {held} {currency} but its open holds reserve {reserved}")
        for wallet_id, currency, held, reserved in repository.wallets_held_not_matching_holds(session)
    ]


def _wallets_holding_less_than_nothing(session: Session) -> list[Finding]:
    return [
        (f"wallet:{_as_uuid(wallet_id)}", f"holds {held} {currency}, below zero")
        for wallet_id, currency, held in repository.wallets_holding_less_than_nothing(session)
    ]


def _user_wallets_over_held(session: Session) -> list[Finding]:
    return [
        (
            f"wallet:{_as_uuid(wallet_id)}",
            f"balance {balance} {currency} but {held} held: {balance - held} available",
        )
        for wallet_id, currency, balance, held in repository.user_wallets_over_held(session)
    ]


def _holds_settled_beyond_amount(session: Session) -> list[Finding]:
    return [
        (
            f"hold:{_as_uuid(hold_id)}",
            f"{status} hold of {amount} {currency} with {captured} captured and {released} released",
        )
        for hold_id, currency, amount, captured, released, status in repository.holds_settled_beyond_amount(
            session
        )
    ]


def _money_not_conserved(ledger: CurrencyLedger) -> str | None:
    inside = ledger.wallets_total + ledger.fx_house + ledger.fx_revenue
    if inside == ledger.deposits - ledger.withdrawals:
        return None
    fx = (
        f" + FX house {ledger.fx_house} + FX revenue {ledger.fx_revenue}"
        if ledger.fx_house or ledger.fx_revenue
        else ""
    )
    return (
        f"user wallets hold {ledger.wallets_total}{fx} but deposits - withdrawals = "
        f"{ledger.deposits - ledger.withdrawals}"
    )


def _fx_transfers_not_matching_quotes(session: Session) -> list[Finding]:
    """Each executed quote and its one transfer: the transfer is of an FX kind, names the quote,
    is named back by it, carries its sell side, and its entries are exactly the quote's legs."""
    transfers, quotes, entries = repository.fx_transfers_and_quotes(session)
    findings: list[Finding] = [
        (f"fx_quote:{_as_uuid(quote_id)}", f"used by {named}, which is no transfer executing it")
        for quote_id, named, found in quotes
        if found is None
    ]
    lines: dict[uuid.UUID, list[tuple[uuid.UUID, str, str, int]]] = {}
    for transfer_id, wallet_id, kind, currency, amount in entries:
        lines.setdefault(_as_uuid(transfer_id), []).append((_as_uuid(wallet_id), kind, currency, int(amount)))
    for row in transfers:
        (
            transfer_id,
            kind,
            amount,
            currency,
            _ref,
            quote_id,
            named,
            sell,
            sold,
            buy,
            bought,
            fee,
            payer,
            payee,
        ) = row
        subject = f"transfer:{_as_uuid(transfer_id)}"
        if quote_id is None:
            findings.append((subject, f"{kind} transfer that executes no quote"))
            continue
        quote = _as_uuid(quote_id)
        if kind not in (TransferKind.EXCHANGE, TransferKind.FX_TRANSFER):
            findings.append((subject, f"{kind} transfer names quote {quote}"))
        if named is None or _as_uuid(named) != _as_uuid(transfer_id):
            findings.append((subject, f"executes quote {quote}, which is not marked used by it"))
        if (int(amount), currency) != (int(sold), sell):
            findings.append((subject, f"moves {amount} {currency}; its quote sells {sold} {sell}"))
        expected = sorted(
            (str(side), leg.currency, signed)
            for leg in fx_legs.quote_legs(sell, buy, int(sold), int(fee), int(bought))
            if leg.amount > 0
            for side, signed in ((leg.source, -leg.amount), (leg.target, leg.amount))
        )
        parties = _as_uuid(payer), _as_uuid(payee)
        actual = sorted(
            (_leg_party(wallet_id, wallet_kind, signed, *parties), entry_currency, signed)
            for wallet_id, wallet_kind, entry_currency, signed in lines.get(_as_uuid(transfer_id), [])
        )
        if actual != expected:
            findings.append((subject, f"entries {actual} are not the legs of quote {quote}: {expected}"))
    return findings


def _leg_party(wallet_id: uuid.UUID, kind: str, signed: int, payer: uuid.UUID, payee: uuid.UUID) -> str:
    """Which party of fx.legs an FX transfer's entry belongs to, as its wallet says."""
    if kind == WalletKind.FX_HOUSE:
        return str(fx_legs.Party.HOUSE)
    if kind == WalletKind.FX_REVENUE:
        return str(fx_legs.Party.REVENUE)
    if wallet_id == payer and signed < 0:
        return str(fx_legs.Party.PAYER)
    if wallet_id == payee and signed > 0:
        return str(fx_legs.Party.RECIPIENT)
    return f"wallet {wallet_id}"


def _ledger_not_zero(ledger: CurrencyLedger) -> str | None:
    if ledger.all_wallets == 0:
        return None
    return f"all {ledger.currency} wallets, the system wallet included, sum to {ledger.all_wallets}"


WALLET_BALANCE_EQUALS_ENTRIES = Invariant(
    "wallet_balance_equals_entries",
    "Each wallet's balance equals the sum of its entries.",
    None,  # by construction: _move changes each balance by its entry's amount
    audit_query=_wallets_not_matching_entries,
)
TRANSFER_ENTRIES_SUM_TO_ZERO = Invariant(
    "transfer_entries_sum_to_zero",
    "A transfer has two entries, and they sum to zero per currency.",
    ledger_rules.check_entries_balance,
    (Trigger("entries", "trg_entries_sum_to_zero"),),
    audit_query=_unbalanced_transfers,
)
ENTRIES_MATCH_TRANSFER = Invariant(
    "entries_match_transfer",
    "A transfer's entries debit its source and credit its destination by its amount, in its currency, "
    "which is also their wallets' currency.",
    None,  # by construction: _move writes the entries from the transfer it has just written
    audit_query=_entries_not_matching_transfer,
)
USER_WALLET_NON_NEGATIVE = Invariant(
    "user_wallet_non_negative",
    "A user wallet never goes below zero (the system wallet does: it stands for the outside world).",
    ledger_rules.check_user_balance_non_negative,
    (Check("wallets", "ck_wallets_user_balance_non_negative"),),
    audit_query=_negative_user_wallets,
)
CLOSED_WALLET_IS_EMPTY = Invariant(
    "closed_wallet_is_empty",
    "Money never enters or leaves a closed wallet, which holds nothing.",
    ledger_rules.check_wallet_open,
    (Check("wallets", CLOSED_IS_EMPTY),),
    audit_query=_closed_wallets_holding_money,
)
WALLET_HELD_MATCHES_OPEN_HOLDS = Invariant(
    "wallet_held_matches_open_holds",
    "A wallet's held amount equals what its open holds have left (amount - captured - released).",
    None,  # by construction: the engine changes a wallet's held by exactly what its hold reserves or frees
    (
        Trigger("wallets", "trg_wallets_held_matches_holds"),
        Trigger("holds", "trg_holds_match_wallet_held"),
    ),
    audit_query=_wallets_held_not_matching_holds,
)
WALLET_HELD_NON_NEGATIVE = Invariant(
    "wallet_held_non_negative",
    "A wallet never holds less than nothing.",
    hold_rules.check_held_non_negative,
    (Check("wallets", "ck_wallets_held_non_negative"),),
    audit_query=_wallets_holding_less_than_nothing,
)
USER_WALLET_AVAILABLE_NON_NEGATIVE = Invariant(
    "user_wallet_available_non_negative",
    "A user wallet's available money (balance - held) never goes below zero.",
    hold_rules.check_user_available_non_negative,
    (Check("wallets", "ck_wallets_user_held_within_balance"),),
    audit_query=_user_wallets_over_held,
)
HOLD_SETTLES_WITHIN_AMOUNT = Invariant(
    "hold_settles_within_amount",
    "A hold's captured plus released amount never exceeds what it held; a closed hold has nothing left.",
    hold_rules.check_hold_settles_within_amount,
    (
        Check("holds", "ck_holds_settled_within_amount"),
        Check("holds", "ck_holds_closed_is_settled"),
    ),
    audit_query=_holds_settled_beyond_amount,
)
MONEY_CONSERVED = Invariant(
    "money_conserved",
    "Per currency, user wallets hold what was deposited minus what was withdrawn.",
    None,  # follows from the entries summing to zero
    currency_violation=_money_not_conserved,
)
LEDGER_SUMS_TO_ZERO = Invariant(
    "ledger_sums_to_zero",
    "Per currency, all wallets together, the system wallet included, hold zero.",
    None,  # follows from the entries summing to zero
    currency_violation=_ledger_not_zero,
)
TRANSFER_AMOUNT_POSITIVE = Invariant(
    "transfer_amount_positive",
    "A transfer moves more than nothing.",
    ledger_rules.check_amount_in_range,
    (Check("transfers", "ck_transfers_amount_positive"),),
)
ENTRY_AMOUNT_NONZERO = Invariant(
    "entry_amount_nonzero",
    "An entry changes its wallet's balance: it carries its transfer's amount or its negation.",
    ledger_rules.check_amount_in_range,
    (Check("entries", "ck_entries_amount_nonzero"),),
)
TRANSFER_BETWEEN_TWO_WALLETS = Invariant(
    "transfer_between_two_wallets",
    "Money moves from one wallet to another one.",
    ledger_rules.check_distinct_wallets,
    (Check("transfers", "ck_transfers_distinct_wallets"),),
)
TRANSFER_REVERSED_AT_MOST_ONCE = Invariant(
    "transfer_reversed_at_most_once",
    "A transfer is reversed at most once.",
    ledger_rules.check_not_reversed_yet,
    (Unique("transfers", ("reverses_transfer_id",)),),
)
SYSTEM_WALLET_HAS_NO_OWNER = Invariant(
    "system_wallet_has_no_owner",
    "The system wallet belongs to no one; every user wallet belongs to someone.",
    None,  # by construction: the engine opens system wallets without an owner, user wallets with one
    (Check("wallets", "ck_wallets_system_has_no_owner"),),
)
FX_TRANSFER_MATCHES_QUOTE = Invariant(
    "fx_transfer_matches_quote",
    "Every used FX quote is executed by exactly one transfer, an exchange or fx_transfer that names "
    "it, and that transfer's entries are the quote's legs: payer -> FX house and FX revenue in the "
    "sell currency, FX house -> recipient in the buy currency.",
    None,  # by construction: the engine writes an FX transfer's entries from fx.legs.quote_legs
    (Unique("transfers", ("quote_id",)), Check("fx_quotes", "ck_fx_quotes_used_by_a_transfer")),
    audit_query=_fx_transfers_not_matching_quotes,
)
LEDGER_HISTORY_APPEND_ONLY = Invariant(
    "ledger_history_append_only",
    "Transfers and entries are history: written once, never updated or deleted.",
    None,  # by construction: nothing in the daemon updates or deletes them
    (Trigger("transfers", "trg_transfers_append_only"), Trigger("entries", "trg_entries_append_only")),
)

INVARIANTS: tuple[Invariant, ...] = (
    # The audited ones first, in the order the audit has always reported them.
    WALLET_BALANCE_EQUALS_ENTRIES,
    TRANSFER_ENTRIES_SUM_TO_ZERO,
    ENTRIES_MATCH_TRANSFER,
    USER_WALLET_NON_NEGATIVE,
    CLOSED_WALLET_IS_EMPTY,
    WALLET_HELD_MATCHES_OPEN_HOLDS,
    WALLET_HELD_NON_NEGATIVE,
    USER_WALLET_AVAILABLE_NON_NEGATIVE,
    HOLD_SETTLES_WITHIN_AMOUNT,
    FX_TRANSFER_MATCHES_QUOTE,
    MONEY_CONSERVED,
    LEDGER_SUMS_TO_ZERO,
    TRANSFER_AMOUNT_POSITIVE,
    ENTRY_AMOUNT_NONZERO,
    TRANSFER_BETWEEN_TWO_WALLETS,
    TRANSFER_REVERSED_AT_MOST_ONCE,
    SYSTEM_WALLET_HAS_NO_OWNER,
    LEDGER_HISTORY_APPEND_ONLY,
)
