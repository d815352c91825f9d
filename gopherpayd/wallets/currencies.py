"""ISO 4217 currencies GopherPay supports, with their minor-unit exponents.

This module is pure data with no imports from the rest of the daemon, so the CLI
can use it to turn minor units into human amounts without loading the server.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Currency:
    code: str
    exponent: int
    """Digits after the decimal point in the minor unit (USD 2: 1 USD = 100 cents)."""
    name: str


_TABLE = [
    Currency("USD", 2, "US Dollar"),
    Currency("EUR", 2, "Euro"),
    Currency("GBP", 2, "Pound Sterling"),
    Currency("JPY", 0, "Yen"),
    Currency("VND", 0, "Dong"),
    Currency("CHF", 2, "Swiss Franc"),
    Currency("CAD", 2, "Canadian Dollar"),
    Currency("AUD", 2, "Australian Dollar"),
    Currency("NZD", 2, "New Zealand Dollar"),
    Currency("SEK", 2, "Swedish Krona"),
    Currency("NOK", 2, "Norwegian Krone"),
    Currency("DKK", 2, "Danish Krone"),
    Currency("PLN", 2, "Zloty"),
    Currency("CZK", 2, "Czech Koruna"),
    Currency("HUF", 2, "Forint"),
    Currency("CNY", 2, "Yuan Renminbi"),
    Currency("HKD", 2, "Hong Kong Dollar"),
    Currency("SGD", 2, "Singapore Dollar"),
    Currency("INR", 2, "Indian Rupee"),
    Currency("KRW", 0, "Won"),
    Currency("BRL", 2, "Brazilian Real"),
    Currency("MXN", 2, "Mexican Peso"),
    Currency("ZAR", 2, "Rand"),
    Currency("ISK", 0, "Iceland Krona"),
    Currency("CLP", 0, "Chilean Peso"),
    Currency("KWD", 3, "Kuwaiti Dinar"),
    Currency("BHD", 3, "Bahraini Dinar"),
    Currency("JOD", 3, "Jordanian Dinar"),
    Currency("OMR", 3, "Rial Omani"),
    Currency("TND", 3, "Tunisian Dinar"),
]

CURRENCIES: dict[str, Currency] = {currency.code: currency for currency in _TABLE}


def get_currency(code: str) -> Currency | None:
    """The supported currency with this ISO 4217 code (case-sensitive), or None."""
    return CURRENCIES.get(code)


def format_minor(amount_minor: int, code: str) -> str:
    """Human text for minor units: `1234, "USD"` -> `"12.34 USD"`; `1000, "VND"` -> `"1,000 VND"`."""
    currency = CURRENCIES[code]
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**currency.exponent)
    text = f"{whole:,}"
    if currency.exponent:
        text += f".{fraction:0{currency.exponent}d}"
    return f"{sign}{text} {code}"
