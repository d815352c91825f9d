"""The database holds quotes and rates to their rules too, whatever SQL writes them."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gopherpayd.kit.db import Database
from tests.fx.conftest import Quote, SetRate


@pytest.fixture
def quote_id(set_rate: SetRate, quote: Quote) -> str:
    assert set_rate("USD", "EUR", "0.9213", spread="0.5%").status_code == 200
    response = quote("USD", "EUR", sell_amount=10_000)
    assert response.status_code == 201, response.text
    return str(response.json()["quote_id"])


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ("used_at = created_at", "ck_fx_quotes_used_by_a_transfer"),
        ("fee = sell_amount", "ck_fx_quotes_fee_within_sell_amount"),
        ("fee = -1", "ck_fx_quotes_fee_within_sell_amount"),
        ("buy_amount = 0", "ck_fx_quotes_amounts_positive"),
        ("expires_at = created_at", "ck_fx_quotes_expires_after_creation"),
        ("buy_currency = sell_currency", "ck_fx_quotes_two_currencies"),
    ],
)
def test_a_quote_tampered_in_sql_is_refused_by_its_check(
    db: Database, quote_id: str, change: str, constraint: str
) -> None:
    with pytest.raises(IntegrityError, match=constraint), db.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE fx_quotes SET {change} WHERE id = :id"),  # noqa: S608 - fixed texts
            {"id": uuid.UUID(quote_id).hex if db.is_sqlite else quote_id},
        )


def test_a_pair_has_one_rate_and_two_currencies(db: Database, set_rate: SetRate) -> None:
    assert set_rate("USD", "EUR", "0.9213").status_code == 200
    insert = (
        "INSERT INTO fx_rates (id, sell_currency, buy_currency, rate, spread, source, set_at) "
        "VALUES (:id, 'USD', :buy, '1', '0', 'operator', CURRENT_TIMESTAMP)"
    )
    for buy, constraint in (("EUR", "pair|fx_rates.sell_currency"), ("USD", "ck_fx_rates_two_currencies")):
        with pytest.raises(IntegrityError, match=constraint), db.engine.begin() as connection:
            connection.execute(
                text(insert), {"id": uuid.uuid4().hex if db.is_sqlite else str(uuid.uuid4()), "buy": buy}
            )
