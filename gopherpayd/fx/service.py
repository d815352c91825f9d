"""FX rules: operators set rates, customers get quotes locked for a short time, and a
movement consumes a quote exactly once. Amounts follow `gopherpayd.fx.rounding`."""

from __future__ import annotations

import getpass
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session

from gopherpayd.audit.service import AuditNote, record
from gopherpayd.fx import repository, rounding
from gopherpayd.fx.errors import (
    AmountTooLarge,
    AmountTooSmall,
    InvalidRate,
    InvalidSpread,
    QuoteExpired,
    QuoteNotFound,
    QuoteRefusal,
    QuoteUsed,
    RatesFileError,
    RateUnavailable,
    SameCurrency,
)
from gopherpayd.fx.models import FROM_FILE, FROM_OPERATOR, FxQuote, FxRate
from gopherpayd.fx.schemas import AdminRateOut, QuoteOut, QuoteRequest, RateOut, SetRateRequest
from gopherpayd.fx.source import OperatorRates, Rate, RateSource
from gopherpayd.fx.terms import RECENT, QuoteTerms
from gopherpayd.identity.service import Principal
from gopherpayd.kit.clock import utcnow
from gopherpayd.settings import Settings
from gopherpayd.wallets.currencies import CURRENCIES, format_minor
from gopherpayd.wallets.errors import UnsupportedCurrency
from gopherpayd.wallets.service import supported_currency

NO_REASON = "(no reason given)"


def currency_pair(sell: str, buy: str) -> tuple[str, str]:
    """Both codes canonical and supported (sell checked first), and not the same."""
    sell, buy = supported_currency(sell), supported_currency(buy)
    if sell == buy:
        raise SameCurrency(f"{sell} cannot be exchanged for itself; choose two different currencies")
    return sell, buy


def checked_rate(text: str) -> Decimal:
    try:
        return rounding.parse_rate(text)
    except rounding.DecimalTextError as error:
        raise InvalidRate(str(error)) from None


def checked_spread(text: str) -> Decimal:
    try:
        return rounding.parse_spread(text)
    except rounding.DecimalTextError as error:
        raise InvalidSpread(str(error)) from None


# --- rates ---------------------------------------------------------------------------------


def set_rate(session: Session, admin: Principal, body: SetRateRequest) -> AdminRateOut:
    """An operator sets (or replaces) the rate of one pair; the change is audit-logged."""
    sell, buy = currency_pair(body.sell, body.buy)
    rate, spread = checked_rate(body.rate), checked_spread(body.spread)
    now = utcnow()
    valid_until = now + timedelta(seconds=body.valid_seconds) if body.valid_seconds else None
    previous = repository.get_rate(session, sell, buy)
    # Read before _store_rate: it changes that same row.
    previous_rate, previous_spread = (previous.rate, previous.spread) if previous else (None, None)
    row = _store_rate(session, sell, buy, rate, spread, valid_until, FROM_OPERATOR, admin.user_id, now)
    details = {
        "rate": row.rate,
        "spread": row.spread,
        "valid_until": valid_until.isoformat() if valid_until else None,
        "previous_rate": previous_rate,
        "previous_spread": previous_spread,
    }
    record(
        session,
        AuditNote(admin.user_id, "set_fx_rate", f"fx_rate:{sell}/{buy}", body.reason or NO_REASON, details),
    )
    return _admin_rate_out(row, now)


def _store_rate(
    session: Session,
    sell: str,
    buy: str,
    rate: Decimal,
    spread: Decimal,
    valid_until: datetime | None,
    source: str,
    set_by: uuid.UUID | None,
    now: datetime,
) -> FxRate:
    row = repository.get_rate(session, sell, buy) or FxRate(
        sell_currency=sell, buy_currency=buy, rate="", spread=""
    )
    row.rate, row.spread = rounding.decimal_text(rate), rounding.decimal_text(spread)
    row.valid_until, row.source, row.set_by, row.set_at = valid_until, source, set_by, now
    return repository.save_rate(session, row)


def admin_rates(session: Session) -> list[AdminRateOut]:
    """Every pair's rate, valid or not, for operators."""
    now = utcnow()
    return [_admin_rate_out(row, now) for row in repository.list_rates(session)]


def indicative_rates(session: Session) -> list[RateOut]:
    """The rates that quote now, for customers to look at."""
    now = utcnow()
    return [_rate_out(row) for row in repository.list_rates(session) if Rate.of(row).valid_at(now)]


def _rate_out(row: FxRate) -> RateOut:
    return RateOut(
        sell=row.sell_currency,
        buy=row.buy_currency,
        rate=row.rate,
        spread=row.spread,
        valid_until=row.valid_until,
        source=row.source,
        set_at=row.set_at,
    )


def _admin_rate_out(row: FxRate, now: datetime) -> AdminRateOut:
    return AdminRateOut(**_rate_out(row).model_dump(), set_by=row.set_by, valid=Rate.of(row).valid_at(now))


# --- quotes --------------------------------------------------------------------------------


def create_quote(
    session: Session,
    settings: Settings,
    principal: Principal,
    body: QuoteRequest,
    source: RateSource | None = None,
) -> QuoteOut:
    """Lock the current rate of a pair for the caller for settings.fx_quote_ttl seconds.

    Checked in this order: the currencies (unsupported_currency, sell first), same_currency,
    fx_rate_unavailable, then the amounts (fx_amount_too_small, fx_amount_too_large).
    """
    sell, buy = currency_pair(body.sell, body.buy)
    now = utcnow()
    rate = (source or OperatorRates(session)).rate(sell, buy, now)
    if rate is None:
        raise RateUnavailable(
            f"there is no {sell}->{buy} rate now; an operator sets one with "
            f"gopherpay admin rates set {sell} {buy} RATE"
        )
    amounts = quote_amounts(sell, buy, rate, body.sell_amount, body.buy_amount)
    quote = repository.add_quote(
        session,
        FxQuote(
            user_id=principal.user_id,
            sell_currency=sell,
            buy_currency=buy,
            sell_amount=amounts.sell_amount,
            buy_amount=amounts.buy_amount,
            fee=amounts.fee,
            rate=rounding.decimal_text(rate.rate),
            spread=rounding.decimal_text(rate.spread),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.fx_quote_ttl),
        ),
    )
    # Kept once the quote is made (a quote whose transaction then fails is one the batch will
    # not find, and refuses quote_not_found).
    RECENT.remember(QuoteTerms.of(quote))
    return quote_out(quote)


def quote_amounts(
    sell: str, buy: str, rate: Rate, sell_amount: int | None, buy_amount: int | None
) -> rounding.QuoteAmounts:
    """Both sides of a quote from the one given, or a refusal when either is out of range."""
    exponents = CURRENCIES[sell].exponent, CURRENCIES[buy].exponent
    if sell_amount is not None:
        amounts = rounding.amounts_for_sell(sell_amount, rate.rate, rate.spread, *exponents)
    else:
        assert buy_amount is not None  # QuoteRequest holds exactly one
        amounts = rounding.amounts_for_buy(buy_amount, rate.rate, rate.spread, *exponents)
    if amounts.buy_amount < 1 or amounts.exchanged < 1:
        raise AmountTooSmall(
            f"{format_minor(amounts.sell_amount, sell)} buys less than {format_minor(1, buy)} "
            f"at {rounding.decimal_text(rate.rate)} after a spread of {rounding.percent_text(rate.spread)}"
        )
    largest = rounding.MAX_AMOUNT_MINOR
    if amounts.sell_amount > largest or amounts.buy_amount > largest:
        raise AmountTooLarge(
            f"the quote would be above the largest amount ({format_minor(largest, sell)} or "
            f"{format_minor(largest, buy)})"
        )
    return amounts


def quote_out(quote: FxQuote) -> QuoteOut:
    return QuoteOut(
        quote_id=quote.id,
        sell=quote.sell_currency,
        buy=quote.buy_currency,
        sell_amount=quote.sell_amount,
        buy_amount=quote.buy_amount,
        fee=quote.fee,
        rate=quote.rate,
        spread=quote.spread,
        created_at=quote.created_at,
        expires_at=quote.expires_at,
    )


def consume_quote(
    session: Session,
    quote_id: uuid.UUID,
    user_id: uuid.UUID,
    transfer_id: uuid.UUID,
    now: datetime | None = None,
) -> FxQuote | QuoteRefusal:
    """Use the quote for the movement `transfer_id`, exactly once, inside the caller's
    transaction: the quote, or the refusal (returned, not raised) when it is not the user's
    (quote_not_found), has been used (quote_used) or has expired (quote_expired).

    The decision is one conditional UPDATE (`... WHERE used_at IS NULL AND expires_at >
    now`), so it holds whatever else runs at the same time; the row is read afterwards only
    to say which refusal applies. A quote used at expires_at exactly is expired.
    """
    at = now or utcnow()
    if repository.mark_quote_used(session, quote_id, user_id, transfer_id, at):
        quote = repository.get_quote(session, quote_id)
        assert quote is not None  # just updated, in this transaction
        return quote
    refusal = quote_refusal(repository.get_quote(session, quote_id), quote_id, user_id, at)
    assert refusal is not None  # the UPDATE matched nothing: one of the three holds
    return refusal


def quote_refusal(
    quote: FxQuote | None, quote_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> QuoteRefusal | None:
    """Why `user_id` cannot use the quote now, checked in this order: it is not theirs (or
    does not exist): quote_not_found; it was used: quote_used; it expired (at expires_at
    exactly, too): quote_expired. None: it may be used."""
    if quote is None or quote.user_id != user_id:
        return QuoteNotFound(f"no quote {quote_id} of yours; ask for one with POST /v1/fx/quotes")
    if quote.used_at is not None:
        return QuoteUsed(f"quote {quote_id} was used at {quote.used_at.isoformat()}; ask for a new one")
    if now >= quote.expires_at:
        return QuoteExpired(f"quote {quote_id} expired at {quote.expires_at.isoformat()}; ask for a new one")
    return None


# --- the rates file ------------------------------------------------------------------------


def read_rates_file(path: Path) -> list[tuple[str, str, Decimal, Decimal]]:
    """The pairs of a rates file: one `SELL BUY RATE [SPREAD]` per line (spread as in
    `admin rates set`, 0 when left out); blank lines and lines starting with # are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RatesFileError(f"GOPHERPAY_FX_RATES_FILE {path}: cannot read it ({error})") from None
    pairs: list[tuple[str, str, Decimal, Decimal]] = []
    seen: set[tuple[str, str]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        where = f"GOPHERPAY_FX_RATES_FILE {path} line {number}"
        if len(words) not in (3, 4):
            raise RatesFileError(f"{where}: expected SELL BUY RATE [SPREAD], got {line.strip()!r}")
        try:
            sell, buy = currency_pair(words[0], words[1])
            rate = checked_rate(words[2])
            spread = checked_spread(words[3] if len(words) == 4 else "0")
        except (UnsupportedCurrency, SameCurrency, InvalidRate, InvalidSpread) as error:
            raise RatesFileError(f"{where}: {error.detail}") from None
        if (sell, buy) in seen:
            raise RatesFileError(f"{where}: {sell} {buy} is given twice")
        seen.add((sell, buy))
        pairs.append((sell, buy, rate, spread))
    return pairs


def load_rates_file(session: Session, pairs: list[tuple[str, str, Decimal, Decimal]], path: Path) -> int:
    """Start-up: set the file's pairs, except those an operator has set since (their rate
    wins until they change it). Returns how many rates changed; each change is audit-logged."""
    changed = 0
    now = utcnow()
    for sell, buy, rate, spread in pairs:
        existing = repository.get_rate(session, sell, buy)
        if existing is not None and existing.source == FROM_OPERATOR:
            continue
        texts = rounding.decimal_text(rate), rounding.decimal_text(spread)
        if existing is not None and (existing.rate, existing.spread) == texts:
            continue
        _store_rate(session, sell, buy, rate, spread, None, FROM_FILE, None, now)
        details = {"rate": texts[0], "spread": texts[1], "file": str(path), "os_user": _os_user()}
        record(
            session,
            AuditNote(None, "set_fx_rate", f"fx_rate:{sell}/{buy}", "rates file at start-up", details),
        )
        changed += 1
    return changed


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
