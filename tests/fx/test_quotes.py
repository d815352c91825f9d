"""Quotes lock a rate for GOPHERPAY_FX_QUOTE_TTL seconds, for an amount on either side."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text

from gopherpayd.app import create_app
from gopherpayd.fx.schemas import QuoteRequest
from gopherpayd.fx.service import create_quote
from gopherpayd.fx.source import Rate
from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from tests.fx.conftest import Quote, SetRate
from tests.identity.problems import assert_problem
from tests.support.api import Account


def amounts(body: dict[str, object]) -> tuple[object, ...]:
    return tuple(body[k] for k in ("sell", "buy", "sell_amount", "fee", "buy_amount", "rate", "spread"))


def test_a_quote_on_the_sell_side_has_the_exact_amounts_and_is_locked_thirty_seconds(
    set_rate: SetRate, quote: Quote, db: Database, alice: Account
) -> None:
    assert set_rate("USD", "EUR", "0.9213", spread="0.5%").status_code == 200

    response = quote("USD", "EUR", sell_amount=10_000)

    assert response.status_code == 201, response.text
    body = response.json()
    assert amounts(body) == ("USD", "EUR", 10_000, 50, 9_166, "0.9213", "0.005")
    created, expires = (datetime.fromisoformat(body[k]) for k in ("created_at", "expires_at"))
    assert expires - created == timedelta(seconds=30)
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT user_id, sell_amount, buy_amount, fee, rate, used_at, transfer_id FROM fx_quotes")
        ).one()
    assert (str(row.user_id).replace("-", ""), *row[1:]) == (
        alice.user_id.replace("-", ""),
        10_000,
        9_166,
        50,
        "0.9213",
        None,
        None,
    )


def test_a_quote_on_the_buy_side_charges_the_fewest_minor_units_that_buy_the_amount(
    set_rate: SetRate, quote: Quote
) -> None:
    assert set_rate("USD", "EUR", "0.9213", spread="0.5%").status_code == 200

    body = quote("USD", "EUR", buy_amount=9_167).json()

    assert amounts(body) == ("USD", "EUR", 10_002, 51, 9_167, "0.9213", "0.005")


def test_quotes_scale_by_each_currencys_minor_unit(set_rate: SetRate, quote: Quote) -> None:
    assert set_rate("USD", "JPY", "150.5").status_code == 200
    assert set_rate("JPY", "KWD", "0.00205", spread="1%").status_code == 200

    usd_jpy = quote("USD", "JPY", sell_amount=1_000).json()  # 10.00 USD -> 1,505 JPY
    jpy_kwd = quote("JPY", "KWD", sell_amount=10_000).json()  # 100 fee, 9,900 JPY -> 20.295 KWD

    assert (usd_jpy["buy_amount"], usd_jpy["fee"]) == (1_505, 0)
    assert (jpy_kwd["fee"], jpy_kwd["buy_amount"]) == (100, 20_295)


def test_the_lock_lasts_as_long_as_the_setting_says(
    settings: Settings, db: Database, admin: Account, alice: Account
) -> None:
    with TestClient(create_app(settings.model_copy(update={"fx_quote_ttl": 5}), db)) as client:
        rate = {"sell": "EUR", "buy": "GBP", "rate": "0.85"}
        assert client.post("/v1/admin/fx/rates", json=rate, headers=admin.headers).status_code == 200
        body = client.post(
            "/v1/fx/quotes", json={"sell": "EUR", "buy": "GBP", "sell_amount": 100}, headers=alice.headers
        ).json()
    created, expires = (datetime.fromisoformat(body[k]) for k in ("created_at", "expires_at"))
    assert expires - created == timedelta(seconds=5)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        # The order: currencies (sell first), same currency, the rate, then the amounts.
        ({"sell": "XXX", "buy": "YYY", "sell_amount": 0}, 422, "validation_error"),
        ({"sell": "XXX", "buy": "YYY", "sell_amount": 1}, 400, "unsupported_currency"),
        ({"sell": "USD", "buy": "YYY", "sell_amount": 1}, 400, "unsupported_currency"),
        ({"sell": "USD", "buy": "usd", "sell_amount": 1}, 400, "same_currency"),
        ({"sell": "GBP", "buy": "USD", "sell_amount": 1}, 409, "fx_rate_unavailable"),
        ({"sell": "EUR", "buy": "USD", "sell_amount": 1}, 409, "fx_rate_unavailable"),  # only USD->EUR set
        ({"sell": "USD", "buy": "EUR", "sell_amount": 1}, 400, "fx_amount_too_small"),
        ({"sell": "USD", "buy": "EUR", "buy_amount": 10**18 - 1}, 400, "fx_amount_too_large"),
        ({"sell": "USD", "buy": "EUR"}, 422, "validation_error"),
        ({"sell": "USD", "buy": "EUR", "sell_amount": 100, "buy_amount": 90}, 422, "validation_error"),
        ({"sell": "USD", "buy": "EUR", "sell_amount": 10.5}, 422, "validation_error"),
        ({"sell": "USD", "buy": "EUR", "sell_amount": 10**18}, 422, "validation_error"),
    ],
)
def test_refused_quotes_get_a_stable_code_and_store_nothing(
    set_rate: SetRate, quote: Quote, db: Database, body: dict[str, object], status: int, code: str
) -> None:
    assert set_rate("USD", "EUR", "0.9213", spread="0.5%").status_code == 200

    response = quote(**body)

    assert_problem(response, status, code)
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM fx_quotes")).scalar_one() == 0


def test_quotes_need_a_login(client: TestClient) -> None:
    response = client.post("/v1/fx/quotes", json={"sell": "USD", "buy": "EUR", "sell_amount": 100})
    assert_problem(response, 401, "authentication_required")


class FixedRates:
    """A rate provider other than the operators' table, as a market feed would be plugged in."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def rate(self, sell: str, buy: str, at: datetime) -> Rate | None:
        self.asked.append((sell, buy))
        return Rate(sell, buy, Decimal("1.25"), Decimal("0.01"), None, "provider")


def test_any_rate_source_can_stand_in_for_the_operators_table(
    db: Database, settings: Settings, alice: Account
) -> None:
    provider = FixedRates()
    principal = Principal(uuid.UUID(alice.user_id), uuid.UUID(alice.session_id), alice.email, "user")
    body = QuoteRequest(sell="gbp", buy="USD", sell_amount=10_000)

    made = db.run(lambda session: create_quote(session, settings, principal, body, source=provider))

    assert provider.asked == [("GBP", "USD")]
    assert (made.sell_amount, made.fee, made.buy_amount, made.rate, made.spread) == (
        10_000,
        100,
        12_375,
        "1.25",
        "0.01",
    )


@pytest.mark.parametrize("ttl", [0, 3601])
def test_the_lock_length_setting_is_held_to_one_second_to_one_hour(settings: Settings, ttl: int) -> None:
    with pytest.raises(ValidationError, match="fx_quote_ttl"):
        Settings(**{**settings.model_dump(), "fx_quote_ttl": ttl})
