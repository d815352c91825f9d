"""Operators set exact decimal rates; customers see the valid ones, marked indicative."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.fx import service as fx_service
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from tests.fx.conftest import SetRate
from tests.identity.problems import assert_problem
from tests.support.api import Account


def test_an_operator_sets_a_rate_and_both_lists_show_it_exactly(
    client: TestClient, admin: Account, alice: Account, set_rate: SetRate
) -> None:
    response = set_rate("usd", "EUR", "0.921300", spread="0.5%")

    assert response.status_code == 200, response.text
    body = response.json()
    assert {
        k: body[k] for k in ("sell", "buy", "rate", "spread", "valid_until", "source", "set_by", "valid")
    } == {
        "sell": "USD",
        "buy": "EUR",
        "rate": "0.9213",
        "spread": "0.005",
        "valid_until": None,
        "source": "operator",
        "set_by": admin.user_id,
        "valid": True,
    }
    listed = client.get("/v1/admin/fx/rates", headers=admin.headers).json()["items"]
    seen = client.get("/v1/fx/rates", headers=alice.headers).json()
    assert [(r["sell"], r["buy"], r["rate"], r["spread"]) for r in listed] == [
        ("USD", "EUR", "0.9213", "0.005")
    ]
    assert seen["indicative"] is True
    assert [(r["sell"], r["buy"], r["rate"], r["spread"]) for r in seen["items"]] == [
        ("USD", "EUR", "0.9213", "0.005")
    ]


def test_setting_a_pair_again_replaces_it_and_the_audit_log_keeps_both(
    client: TestClient, admin: Account, set_rate: SetRate, db: Database
) -> None:
    assert set_rate("USD", "JPY", "150.25", spread="0.01", reason="morning rate").status_code == 200
    assert set_rate("USD", "JPY", "151", spread="0").status_code == 200

    listed = client.get("/v1/admin/fx/rates", headers=admin.headers).json()["items"]
    log = client.get("/v1/admin/audit-log", headers=admin.headers).json()["items"]
    assert [(r["rate"], r["spread"]) for r in listed] == [("151", "0")]
    assert [(e["action"], e["target"], e["reason"]) for e in log] == [
        ("set_fx_rate", "fx_rate:USD/JPY", "(no reason given)"),
        ("set_fx_rate", "fx_rate:USD/JPY", "morning rate"),
    ]
    assert (log[0]["details"]["previous_rate"], log[0]["details"]["rate"]) == ("150.25", "151")
    assert log[0]["actor_email"] == admin.email


def test_rates_are_stored_as_exact_text_on_both_backends(set_rate: SetRate, db: Database) -> None:
    assert set_rate("USD", "KWD", "0.307712345678", spread="0.000001").status_code == 200
    with db.engine.connect() as connection:
        row = connection.execute(text("SELECT rate, spread FROM fx_rates")).one()
    assert tuple(row) == ("0.307712345678", "0.000001")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"sell": "USD", "buy": "XXX", "rate": "1"}, 400, "unsupported_currency"),
        ({"sell": "XXX", "buy": "USD", "rate": "0"}, 400, "unsupported_currency"),
        ({"sell": "USD", "buy": "usd", "rate": "1"}, 400, "same_currency"),
        ({"sell": "USD", "buy": "USD", "rate": "0"}, 400, "same_currency"),
        ({"sell": "USD", "buy": "EUR", "rate": "0"}, 400, "invalid_rate"),
        ({"sell": "USD", "buy": "EUR", "rate": "-0.9"}, 400, "invalid_rate"),
        ({"sell": "USD", "buy": "EUR", "rate": "1e3"}, 400, "invalid_rate"),
        ({"sell": "USD", "buy": "EUR", "rate": "0.1234567890123"}, 400, "invalid_rate"),
        ({"sell": "USD", "buy": "EUR", "rate": "1234567890123456789"}, 400, "invalid_rate"),
        ({"sell": "USD", "buy": "EUR", "rate": "0", "spread": "60%"}, 400, "invalid_rate"),
        ({"sell": "USD", "buy": "EUR", "rate": "1", "spread": "50%"}, 400, "invalid_spread"),
        ({"sell": "USD", "buy": "EUR", "rate": "1", "spread": "-0.01"}, 400, "invalid_spread"),
        ({"sell": "USD", "buy": "EUR", "rate": "1", "spread": "0.0000001"}, 400, "invalid_spread"),
        ({"sell": "USD", "buy": "EUR", "rate": 0.9213}, 422, "validation_error"),
        ({"sell": "USD", "buy": "EUR", "rate": "1", "valid_seconds": 0}, 422, "validation_error"),
        ({"sell": "USD", "buy": "EUR", "rate": "1", "margin": "1"}, 422, "validation_error"),
    ],
)
def test_bad_rates_are_refused_clearly_and_change_nothing(
    client: TestClient, admin: Account, db: Database, body: dict[str, object], status: int, code: str
) -> None:
    response = client.post("/v1/admin/fx/rates", json=body, headers=admin.headers)

    assert_problem(response, status, code)
    with db.engine.connect() as connection:
        counts = [
            connection.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in ("fx_rates", "audit_log")
        ]
    assert counts == [0, 0]


def test_a_user_cannot_set_or_list_the_operators_rates(client: TestClient, alice: Account) -> None:
    body = {"sell": "USD", "buy": "EUR", "rate": "1"}
    assert_problem(client.post("/v1/admin/fx/rates", json=body, headers=alice.headers), 403, "forbidden")
    assert_problem(client.get("/v1/admin/fx/rates", headers=alice.headers), 403, "forbidden")


def test_a_rate_past_its_validity_is_listed_as_invalid_and_hidden_from_users(
    client: TestClient,
    admin: Account,
    alice: Account,
    set_rate: SetRate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set_rate("EUR", "USD", "1.085", valid_seconds=3600).status_code == 200
    later = utcnow() + timedelta(seconds=3601)
    monkeypatch.setattr(fx_service, "utcnow", lambda: later)

    listed = client.get("/v1/admin/fx/rates", headers=admin.headers).json()["items"]
    seen = client.get("/v1/fx/rates", headers=alice.headers).json()["items"]
    assert [(r["sell"], r["valid"]) for r in listed] == [("EUR", False)]
    assert seen == []


def test_the_audit_details_name_the_validity(client: TestClient, admin: Account, set_rate: SetRate) -> None:
    body = set_rate("EUR", "USD", "1.085", valid_seconds=60).json()
    log = client.get("/v1/admin/audit-log", headers=admin.headers).json()["items"]
    assert log[0]["details"]["valid_until"] == body["valid_until"].replace("Z", "+00:00")
    assert json.dumps(log[0]["details"])  # plain JSON, as every audit entry
