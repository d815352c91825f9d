"""FX refusals. Their codes are stable; docs/api.md lists them in the order they are checked."""

from gopherpayd.kit.errors import BadRequest, Conflict, NotFound


class SameCurrency(BadRequest):
    code, title = "same_currency", "Same currency"


class InvalidRate(BadRequest):
    code, title = "invalid_rate", "Invalid rate"


class InvalidSpread(BadRequest):
    code, title = "invalid_spread", "Invalid spread"


class RateUnavailable(Conflict):
    """No rate for the pair, or its validity ended: nothing can be quoted."""

    code, title = "fx_rate_unavailable", "Exchange rate unavailable"


class AmountTooSmall(BadRequest):
    """The amount buys nothing (less than one minor unit) after the spread."""

    code, title = "fx_amount_too_small", "Amount too small to exchange"


class AmountTooLarge(BadRequest):
    """The other side of the quote would be above the largest amount."""

    code, title = "fx_amount_too_large", "Amount too large to exchange"


class QuoteNotFound(NotFound):
    code, title = "quote_not_found", "Quote not found"


class QuoteExpired(Conflict):
    code, title = "quote_expired", "Quote expired"


class QuoteUsed(Conflict):
    code, title = "quote_used", "Quote already used"


class QuoteMismatch(BadRequest):
    """A transfer's amount or currency is not the sell side of the quote it names."""

    code, title = "quote_mismatch", "Amount does not match the quote"


class QuoteNotInBatch(BadRequest):
    code, title = "quote_not_in_batch", "Quotes are not executed in batches"


QuoteRefusal = QuoteNotFound | QuoteExpired | QuoteUsed
"""What consume_quote answers instead of the quote: returned, not raised, so the writer can
refuse one movement of a batch and go on with the others."""


class RatesFileError(ValueError):
    """GOPHERPAY_FX_RATES_FILE cannot be read: the daemon does not start."""
