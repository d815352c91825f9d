"""Human amounts to minor units and back, for currencies with 0, 2 and 3 decimals."""

from __future__ import annotations

import pytest

from gopherpay_cli.money import AmountError, format_amount, parse_amount, supported_codes
from gopherpayd.wallets.currencies import CURRENCIES


def test_usd_amount_becomes_cents() -> None:
    assert parse_amount("12.34", "USD") == 1234


def test_whole_usd_amount_becomes_cents() -> None:
    assert parse_amount("12", "USD") == 1200


def test_one_decimal_usd_amount_becomes_cents() -> None:
    assert parse_amount("0.5", "USD") == 50


def test_commas_are_thousands_separators() -> None:
    assert parse_amount("1,000", "USD") == 100_000
    assert parse_amount("1,234,567.89", "USD") == 123_456_789


def test_jpy_amount_is_whole_yen() -> None:
    assert parse_amount("1,500", "JPY") == 1500


def test_vnd_amount_is_whole_dong() -> None:
    assert parse_amount("20000", "VND") == 20000


def test_kwd_has_three_decimals() -> None:
    assert parse_amount("1.234", "KWD") == 1234
    assert parse_amount("0.001", "KWD") == 1


def test_currency_is_case_insensitive() -> None:
    assert parse_amount("1", "usd") == 100


def test_surrounding_spaces_are_ignored() -> None:
    assert parse_amount(" 12.34 ", "USD") == 1234


def test_trailing_zeros_beyond_the_minor_unit_are_exact_and_accepted() -> None:
    assert parse_amount("1.230", "USD") == 123
    assert parse_amount("5.0", "VND") == 5


def test_fraction_of_a_dong_is_refused() -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount("0.5", "VND")
    assert str(refused.value) == "VND has no minor unit: 0.5 is not a whole number of VND"


def test_fraction_of_a_cent_is_refused() -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount("1.234", "USD")
    assert str(refused.value) == "USD amounts have at most 2 decimals: 1.234"


def test_fourth_decimal_of_kwd_is_refused() -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount("1.2345", "KWD")
    assert str(refused.value) == "KWD amounts have at most 3 decimals: 1.2345"


def test_fraction_of_a_yen_is_refused() -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount("1.5", "JPY")
    assert str(refused.value) == "JPY has no minor unit: 1.5 is not a whole number of JPY"


@pytest.mark.parametrize("text", ["0", "0.00", "-5", "-0.01"])
def test_zero_and_negative_amounts_are_refused(text: str) -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount(text, "USD")
    assert str(refused.value) == f"The amount must be greater than zero: {text}"


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1e3",
        "1E3",
        "12,34",
        "1,00",
        "1.2.3",
        "abc",
        "",
        "1 000",
        "+5",
        "0x10",
        "1_000",
        "12.",
    ],
)
def test_text_that_is_not_a_plain_decimal_is_refused(text: str) -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount(text, "USD")
    assert str(refused.value) == f"Not an amount: {text!r}. Write it like 1234.56 or 1,234.56"


def test_largest_amount_has_18_digits_in_minor_units() -> None:
    assert parse_amount("9,999,999,999,999,999.99", "USD") == 10**18 - 1


@pytest.mark.parametrize(
    ("text", "currency"),
    [("10000000000000000", "USD"), ("1000000000000000000", "JPY"), ("92233720368547758.08", "USD")],
)
def test_amounts_over_18_digits_in_minor_units_are_refused(text: str, currency: str) -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount(text, currency)
    assert str(refused.value).startswith(f"The amount is too large: {text} {currency} (at most ")


def test_unsupported_currency_lists_the_supported_ones() -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount("1", "XYZ")
    assert str(refused.value) == f"Unsupported currency 'XYZ'. Supported: {supported_codes()}"
    assert "USD" in supported_codes() and "VND" in supported_codes()


def test_format_usd() -> None:
    assert format_amount(1234, "USD") == "12.34 USD"


def test_format_pads_cents() -> None:
    assert format_amount(5, "USD") == "0.05 USD"


def test_format_vnd_with_thousands_separators() -> None:
    assert format_amount(1000, "VND") == "1,000 VND"


def test_format_negative_amount() -> None:
    assert format_amount(-550, "USD") == "-5.50 USD"


def test_format_kwd_three_decimals() -> None:
    assert format_amount(1_234_567, "KWD") == "1,234.567 KWD"


def test_format_jpy_zero() -> None:
    assert format_amount(0, "JPY") == "0 JPY"


def test_format_large_amount_groups_thousands() -> None:
    assert format_amount(10**18 - 1, "USD") == "9,999,999,999,999,999.99 USD"


def test_format_refuses_a_float() -> None:
    with pytest.raises(TypeError):
        format_amount(12.34, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", sorted(CURRENCIES))
@pytest.mark.parametrize("amount_minor", [1, 99, 100, 1234, 1_000_000, 10**18 - 1])
def test_format_then_parse_round_trips(code: str, amount_minor: int) -> None:
    text, shown_code = format_amount(amount_minor, code).split(" ")
    assert shown_code == code
    assert parse_amount(text, shown_code) == amount_minor
