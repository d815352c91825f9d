"""GOPHERPAY_FX_RATES_FILE: rates set at start-up; an operator's own rate for a pair wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gopherpayd.app import create_app
from gopherpayd.fx.errors import RatesFileError
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from tests.support.api import Account

RATES = """\
# GopherPay rates: SELL BUY RATE [SPREAD]
USD EUR 0.9213 0.5%

eur usd 1.0854 0.004
USD JPY 150.25
"""


def rates_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rates.txt"
    path.write_text(text)
    return path


def started(settings: Settings, db: Database, path: Path) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"fx_rates_file": path}), db))


def listed(client: TestClient, admin: Account) -> list[tuple[str, str, str, str, str]]:
    items = client.get("/v1/admin/fx/rates", headers=admin.headers).json()["items"]
    return [(r["sell"], r["buy"], r["rate"], r["spread"], r["source"]) for r in items]


def test_the_rates_file_sets_its_rates_at_start_up(
    settings: Settings, db: Database, admin: Account, alice: Account, tmp_path: Path
) -> None:
    with started(settings, db, rates_file(tmp_path, RATES)) as client:
        rates = listed(client, admin)
        quote = client.post(
            "/v1/fx/quotes", json={"sell": "USD", "buy": "EUR", "sell_amount": 10_000}, headers=alice.headers
        )
        log = client.get("/v1/admin/audit-log", headers=admin.headers).json()["items"]

    assert rates == [
        ("EUR", "USD", "1.0854", "0.004", "file"),
        ("USD", "EUR", "0.9213", "0.005", "file"),
        ("USD", "JPY", "150.25", "0", "file"),
    ]
    assert quote.json()["buy_amount"] == 9_166
    assert {(e["action"], e["reason"]) for e in log} == {("set_fx_rate", "rates file at start-up")}
    assert len(log) == 3


def test_a_restart_keeps_an_operators_rate_and_takes_the_files_changes(
    settings: Settings, db: Database, admin: Account, tmp_path: Path
) -> None:
    path = rates_file(tmp_path, RATES)
    with started(settings, db, path) as client:
        body = {"sell": "USD", "buy": "EUR", "rate": "0.95", "spread": "0"}
        assert client.post("/v1/admin/fx/rates", json=body, headers=admin.headers).status_code == 200
    path.write_text(RATES.replace("150.25", "151"))

    with started(settings, db, path) as client:
        rates = listed(client, admin)
        log = client.get("/v1/admin/audit-log", headers=admin.headers).json()["items"]

    assert rates == [
        ("EUR", "USD", "1.0854", "0.004", "file"),
        ("USD", "EUR", "0.95", "0", "operator"),
        ("USD", "JPY", "151", "0", "file"),
    ]
    assert len(log) == 5  # three from the first start, the operator's, the one change


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("USD EUR\n", "line 1: expected SELL BUY RATE [SPREAD]"),
        ("# ok\nUSD XXX 1\n", "line 2: 'XXX' is not a supported currency"),
        ("USD USD 1\n", "line 1: USD cannot be exchanged for itself"),
        ("USD EUR 0,92\n", "line 1: the rate must be a plain decimal"),
        ("USD EUR 0.92 50%\n", "line 1: the spread must be at least 0 and below 50%"),
        ("USD EUR 0.92\nusd eur 0.93\n", "line 2: USD EUR is given twice"),
    ],
)
def test_a_bad_rates_file_stops_the_start_and_says_where(
    settings: Settings, db: Database, tmp_path: Path, text: str, message: str
) -> None:
    path = rates_file(tmp_path, text)
    with pytest.raises(RatesFileError) as refused, started(settings, db, path):
        pass
    assert str(refused.value).startswith(f"GOPHERPAY_FX_RATES_FILE {path} ")
    assert message in str(refused.value)


def test_a_missing_rates_file_stops_the_start(settings: Settings, db: Database, tmp_path: Path) -> None:
    with pytest.raises(RatesFileError, match="cannot read it"), started(settings, db, tmp_path / "none.txt"):
        pass
