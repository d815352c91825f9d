"""The one rounding rule: exact amounts for known rates, and a seeded property test that no
quote creates or destroys a minor unit and that the house never loses on rounding."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from fractions import Fraction

import pytest

from gopherpayd.fx.legs import Party, quote_legs
from gopherpayd.fx.rounding import (
    DecimalTextError,
    QuoteAmounts,
    amounts_for_buy,
    amounts_for_sell,
    customer_pays,
    customer_receives,
    decimal_text,
    indicative_value,
    minor_rate,
    parse_rate,
    parse_spread,
    percent_text,
)
from gopherpayd.wallets.currencies import CURRENCIES

SEED = 20261203
EXPONENTS = {0: ["JPY", "VND", "KRW"], 2: ["USD", "EUR", "GBP"], 3: ["KWD", "BHD", "TND"]}


def test_what_the_customer_pays_rounds_up_and_what_they_receive_rounds_down() -> None:
    assert (customer_pays(Fraction(101, 100)), customer_receives(Fraction(199, 100))) == (2, 1)
    assert (customer_pays(Fraction(3)), customer_receives(Fraction(3))) == (3, 3)


def test_usd_to_eur_on_the_sell_side_takes_the_spread_then_rounds_the_euros_down() -> None:
    # 100.00 USD at 0.9213, 0.5 %: fee 0.50 USD, 99.50 USD exchanged = 91.66935 EUR -> 91.66.
    assert amounts_for_sell(10_000, Decimal("0.9213"), Decimal("0.005"), 2, 2) == QuoteAmounts(
        sell_amount=10_000, fee=50, exchanged=9_950, buy_amount=9_166
    )


def test_usd_to_eur_on_the_buy_side_charges_the_fewest_cents_that_buy_the_euros() -> None:
    # 91.67 EUR / 0.9213 = 99.5007... USD -> 99.51 exchanged; / 0.995 = 100.0100... -> 100.02.
    assert amounts_for_buy(9_167, Decimal("0.9213"), Decimal("0.005"), 2, 2) == QuoteAmounts(
        sell_amount=10_002, fee=51, exchanged=9_951, buy_amount=9_167
    )


def test_exponents_of_both_currencies_scale_the_rate() -> None:
    assert minor_rate(Decimal("150"), 2, 0) == Fraction(3, 2)  # 1 cent buys 1.5 yen
    # 1,000 JPY at 0.0061 USD/JPY, no spread: 6.10 USD; at 0.3077 KWD per USD 1.00 USD = 0.307 KWD.
    assert amounts_for_sell(1_000, Decimal("0.0061"), Decimal("0"), 0, 2).buy_amount == 610
    assert amounts_for_sell(100, Decimal("0.3077"), Decimal("0"), 2, 3).buy_amount == 307
    assert amounts_for_buy(307, Decimal("0.3077"), Decimal("0"), 2, 3).sell_amount == 100


def test_the_indicative_value_is_at_the_mid_rate_rounded_down() -> None:
    assert indicative_value(12_345, Decimal("0.9213"), 2, 2) == 11_373  # 113.73385 EUR


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.9213", "0.9213"), ("150", "150"), ("007.50", "7.5"), (".5", "0.5"), ("123456.123456789012", None)],
)
def test_rates_are_read_exactly_from_plain_decimal_text(text: str, value: str | None) -> None:
    assert decimal_text(parse_rate(text)) == (value or text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "greater than zero"),
        ("0.000", "greater than zero"),
        ("-1", "plain decimal"),
        ("1e5", "plain decimal"),
        ("NaN", "plain decimal"),
        ("0.9213 ", None),
        ("1,5", "plain decimal"),
        ("1.0000000000001", "at most 12 decimals"),
        ("1234567890123456789", "at most 18 digits"),
        ("1." + "0" * 40 + "1", "plain decimal"),  # longer than any rate is read
    ],
)
def test_bad_rates_are_refused_with_what_is_wrong(text: str, message: str | None) -> None:
    if message is None:
        assert parse_rate(text) == Decimal("0.9213")
        return
    with pytest.raises(DecimalTextError, match=message):
        parse_rate(text)


def test_spreads_are_fractions_or_percentages_in_zero_to_fifty_percent() -> None:
    assert [parse_spread(t) for t in ("0.5%", "0.005", "0", "49.9999%")] == [
        Decimal("0.005"),
        Decimal("0.005"),
        0,
        Decimal("0.499999"),
    ]
    assert percent_text(Decimal("0.005")) == "0.5%"
    for text, message in [("50%", "below 50%"), ("0.5", "below 50%"), ("0.00001%", "at most 6 decimals")]:
        with pytest.raises(DecimalTextError, match=message):
            parse_spread(text)


def random_rate(generator: random.Random) -> Decimal:
    """A rate of 1 to 12 significant digits anywhere from 0.000001 to 100,000."""
    digits = generator.randint(1, 12)
    mantissa = generator.randint(10 ** (digits - 1), 10**digits - 1)
    return Decimal(mantissa).scaleb(generator.randint(-6, 5) - digits + 1)


def test_no_quote_creates_or_destroys_a_minor_unit_and_the_house_never_loses() -> None:
    generator = random.Random(SEED)
    balances: Counter[tuple[str, str]] = Counter()
    checked = 0
    for _ in range(3_000):
        sell_exp, buy_exp = generator.choice(list(EXPONENTS)), generator.choice(list(EXPONENTS))
        sell = generator.choice(EXPONENTS[sell_exp])
        buy = generator.choice([code for code in EXPONENTS[buy_exp] if code != sell])
        assert (CURRENCIES[sell].exponent, CURRENCIES[buy].exponent) == (sell_exp, buy_exp)
        rate = random_rate(generator)
        spread = Decimal(generator.randint(0, 499_999)).scaleb(-6)
        given = generator.randint(1, 10 ** generator.randint(1, 12))
        sell_side = generator.random() < 0.5
        amounts = (amounts_for_sell if sell_side else amounts_for_buy)(given, rate, spread, sell_exp, buy_exp)
        if amounts.buy_amount < 1 or amounts.exchanged < 1:
            continue  # refused as fx_amount_too_small
        checked += 1
        r = minor_rate(rate, sell_exp, buy_exp)
        # The side the customer gave is kept exactly; the sell amount is exchanged plus fee.
        assert (amounts.sell_amount if sell_side else amounts.buy_amount) == given
        assert amounts.sell_amount == amounts.exchanged + amounts.fee
        assert 0 <= amounts.fee < amounts.sell_amount
        # The house's gain from rounding: never negative, and under one minor unit on each side
        # beyond the exact spread (the rule rounds in its favour, not more).
        spread_gain = amounts.fee - amounts.sell_amount * Fraction(spread)
        exchange_gain = amounts.exchanged * r - amounts.buy_amount
        assert spread_gain >= 0 and exchange_gain >= 0
        if sell_side:
            assert spread_gain < 1 and exchange_gain < 1
        else:
            assert (amounts.exchanged - 1) * r < amounts.buy_amount  # the fewest sell units
            fewer = amounts.sell_amount - 1
            assert fewer - customer_pays(fewer * Fraction(spread)) < amounts.exchanged
        for leg in quote_legs(sell, buy, amounts.sell_amount, amounts.fee, amounts.buy_amount):
            assert leg.amount >= 0
            balances[(leg.source, leg.currency)] -= leg.amount
            balances[(leg.target, leg.currency)] += leg.amount
    assert checked > 2_000
    per_currency: Counter[str] = Counter()
    for (_party, currency), amount in balances.items():
        per_currency[currency] += amount
    assert set(per_currency.values()) == {0}
    assert all(amount >= 0 for (party, _c), amount in balances.items() if party == Party.REVENUE)
    assert sum(amount for (party, _c), amount in balances.items() if party == Party.PAYER) < 0
