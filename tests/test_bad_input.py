"""Malformed, mistyped, oversized and out-of-range input.

Every bad request gets the specific 4xx as an RFC 9457 problem with a `code`,
never a 500, and leaves everything as it was: users, sessions, wallets,
balances, history, and a ledger audit that still passes.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.app import MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES
from gopherpayd.kit.db import Database
from tests.support.api import DEFAULT_PASSWORD, Account, Api
from tests.support.databases import LEDGER_TABLES

PROBLEM = "application/problem+json"
UNSET: Any = object()
MAX_BIGINT = 2**63 - 1


@dataclass
class People:
    admin: Account
    alice: Account
    bob: Account
    transfer_id: str
    """Alice -> bob, 1,000 minor units of USD."""


@pytest.fixture
def people(api: Api, admin: Account, alice: Account, bob: Account) -> People:
    api.deposit(admin, alice.email, 10_000)
    sent = api.transfer(alice, bob.email, 1_000)
    assert sent.status_code == 201, sent.text
    return People(admin, alice, bob, sent.json()["id"])


@dataclass(frozen=True)
class Bad:
    """One bad request and the refusal it must get."""

    label: str
    method: str
    path: str
    """May name {transfer_id} or {alice}."""
    who: str | None
    status: int
    code: str
    body: Any = UNSET
    """A JSON document (UNSET: none)."""
    raw: bytes | None = None
    """Bytes sent as the body with a JSON content type, for what json= cannot express."""
    params: dict[str, Any] = field(default_factory=dict)
    key: str | bytes | None = "fresh"
    """The Idempotency-Key: "fresh" makes a new UUID, None leaves the header out."""
    chunked: bool = False
    """Stream `raw` in pieces, with no Content-Length header."""


def send(client: TestClient, people: People, bad: Bad) -> httpx.Response:
    headers: dict[str, Any] = {}
    if bad.who is not None:
        headers.update(getattr(people, bad.who).headers)
    if bad.key == "fresh":
        headers["Idempotency-Key"] = str(uuid.uuid4())
    elif bad.key is not None:
        headers["Idempotency-Key"] = bad.key
    path = bad.path.format(transfer_id=people.transfer_id, alice=people.alice.email)
    if bad.raw is not None:
        headers["Content-Type"] = "application/json"
        raw = bad.raw
        content: Any = (raw[i : i + 4096] for i in range(0, len(raw), 4096)) if bad.chunked else raw
        return client.request(bad.method, path, content=content, params=bad.params, headers=headers)
    if bad.body is UNSET:
        return client.request(bad.method, path, params=bad.params, headers=headers)
    return client.request(bad.method, path, json=bad.body, params=bad.params, headers=headers)


def ledger(db: Database) -> tuple[Any, ...]:
    """What a bad request must not change, read straight from the tables after every request.

    Refusals remembered under an idempotency key are by design, so that table is left out.
    """
    tables = [table for table in LEDGER_TABLES if table != "idempotency_keys"]
    counts = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {table})" for table in tables)
    with db.engine.connect() as connection:
        return (
            tuple(connection.execute(text(counts)).one()),
            tuple(
                connection.execute(
                    text("SELECT email, full_name, password_hash, frozen FROM users ORDER BY email")
                ).all()
            ),
            tuple(
                connection.execute(
                    text("SELECT id, balance, frozen, closed_at FROM wallets ORDER BY id")
                ).all()
            ),
            tuple(connection.execute(text("SELECT id FROM transfers ORDER BY id")).all()),
            tuple(connection.execute(text("SELECT id, revoked_at FROM sessions ORDER BY id")).all()),
        )


def seen_through_the_api(client: TestClient, people: People) -> list[Any]:
    """Balances and history as their owners see them, and a ledger audit that passes."""
    seen = []
    for account in (people.alice, people.bob):
        wallets = client.get("/v1/wallets", headers=account.headers)
        history = client.get("/v1/transfers", headers=account.headers)
        assert (wallets.status_code, history.status_code) == (200, 200)
        seen.append([(w["currency"], w["balance"]) for w in wallets.json()["items"]])
        seen.append([t["id"] for t in history.json()["items"]])
    audit = client.get("/v1/admin/audit", headers=people.admin.headers)
    assert audit.status_code == 200, audit.text
    report = audit.json()
    assert (report["ok"], report["violations"]) == (True, [])
    seen.append([report["totals"], report["counts"]])
    return seen


def refuse_all(client: TestClient, db: Database, people: People, cases: list[Bad]) -> None:
    """Send each bad request; each must get its exact problem and change nothing."""
    api_before = seen_through_the_api(client, people)
    before = ledger(db)
    wrong = []
    for bad in cases:
        response = send(client, people, bad)
        content_type = response.headers.get("content-type")
        code = response.json().get("code") if content_type in (PROBLEM, "application/json") else None
        got = (response.status_code, content_type, code)
        if got != (bad.status, PROBLEM, bad.code):
            wrong.append(f"{bad.label}: expected {(bad.status, bad.code)}, got {got}: {response.text[:300]}")
        elif not (
            response.json()["status"] == bad.status and response.json()["title"] and response.json()["detail"]
        ):
            wrong.append(f"{bad.label}: incomplete problem document {response.text}")
        after = ledger(db)
        if after != before:
            wrong.append(f"{bad.label}: changed the ledger")
            before = after
    assert wrong == [], "\n".join(wrong)
    assert seen_through_the_api(client, people) == api_before


# --- the endpoints that take a body, with a body each would accept -----------

NO_SUCH_DEAD_LETTER = "00000000-0000-4000-8000-000000000000"
NO_SUCH_HOLD = "00000000-0000-4000-8000-00000000001d"
VALID_BODIES: dict[str, tuple[str, str, str | None, dict[str, Any]]] = {
    "signup": (
        "POST",
        "/v1/auth/signup",
        None,
        {"email": "carol@example.com", "full_name": "Carol", "password": "carol-password-1"},
    ),
    "login": ("POST", "/v1/auth/login", None, {"email": "alice@example.com", "password": DEFAULT_PASSWORD}),
    "refresh": ("POST", "/v1/auth/refresh", None, {"refresh_token": "r" * 43}),
    "password": (
        "POST",
        "/v1/me/password",
        "alice",
        {"current_password": DEFAULT_PASSWORD, "new_password": "another-password-1"},
    ),
    "open-wallet": ("POST", "/v1/wallets", "alice", {"currency": "EUR"}),
    "transfer": (
        "POST",
        "/v1/transfers",
        "alice",
        {"amount": 100, "currency": "USD", "to_email": "bob@example.com", "memo": "lunch"},
    ),
    "transfer-batch": (
        "POST",
        "/v1/transfers/batch",
        "alice",
        {"items": [{"key": "k", "amount": 100, "currency": "USD", "to_email": "bob@example.com"}]},
    ),
    "deposit": (
        "POST",
        "/v1/admin/deposits",
        "admin",
        {"user": "alice@example.com", "amount": 100, "currency": "USD", "reason": "cash in"},
    ),
    "withdrawal": (
        "POST",
        "/v1/admin/withdrawals",
        "admin",
        {"user": "alice@example.com", "amount": 100, "currency": "USD", "reason": "cash out"},
    ),
    "freeze-user": ("POST", "/v1/admin/users/bob@example.com/freeze", "admin", {"reason": "check"}),
    "unfreeze-user": ("POST", "/v1/admin/users/bob@example.com/unfreeze", "admin", {"reason": "check"}),
    "freeze-wallet": ("POST", "/v1/admin/users/{alice}/wallets/USD/freeze", "admin", {"reason": "check"}),
    "unfreeze-wallet": ("POST", "/v1/admin/users/{alice}/wallets/USD/unfreeze", "admin", {"reason": "check"}),
    "reverse": ("POST", "/v1/admin/transfers/{transfer_id}/reverse", "admin", {"reason": "mistake"}),
    "verify-email": ("POST", "/v1/auth/verify-email", "alice", {"code": "123456"}),
    "create-api-token": (
        "POST",
        "/v1/tokens",
        "alice",
        {"name": "ci", "scope": "read", "expires_in_days": 90},
    ),
    "set-fx-rate": (
        "POST",
        "/v1/admin/fx/rates",
        "admin",
        {"sell": "USD", "buy": "EUR", "rate": "0.9213", "spread": "0.5%"},
    ),
    "fx-quote": ("POST", "/v1/fx/quotes", "alice", {"sell": "USD", "buy": "EUR", "sell_amount": 100}),
    "fx-exchange": ("POST", "/v1/fx/exchange", "alice", {"quote_id": "00000000-0000-4000-8000-000000000000"}),
    "hold": (
        "POST",
        "/v1/holds",
        "alice",
        {"to": "bob@example.com", "amount": 100, "currency": "USD", "expires_in": 3600, "memo": "deposit"},
    ),
    "capture-hold": ("POST", f"/v1/holds/{NO_SUCH_HOLD}/capture", "alice", {"amount": 100}),
    "extend-hold": ("POST", f"/v1/holds/{NO_SUCH_HOLD}/extend", "alice", {"expires_in": 7200}),
    "replay-dead-letters": ("POST", "/v1/admin/events/dead-letters/replay", "admin", {"reason": "fixed"}),
    "replay-dead-letter": (
        "POST",
        f"/v1/admin/events/dead-letters/{NO_SUCH_DEAD_LETTER}/replay",
        "admin",
        {"reason": "fixed"},
    ),
}
MONEY_MOVERS = ["transfer", "deposit", "withdrawal", "hold"]
BODY_LIMITS = {"transfer-batch": MAX_BATCH_BODY_BYTES}
"""Endpoints whose bodies may be larger than MAX_BODY_BYTES."""


def with_body(endpoint: str, label: str, status: int, code: str, **changes: Any) -> Bad:
    """The endpoint's valid body with `changes` applied (UNSET removes a field)."""
    method, path, who, valid = VALID_BODIES[endpoint]
    body = {name: value for name, value in {**valid, **changes}.items() if value is not UNSET}
    return Bad(f"{endpoint} {label}", method, path, who, status, code, body=body)


def raw_body(endpoint: str, label: str, raw: bytes, status: int, code: str) -> Bad:
    method, path, who, _ = VALID_BODIES[endpoint]
    return Bad(f"{endpoint} {label}", method, path, who, status, code, raw=raw)


def test_every_body_endpoint_is_covered_here(client: TestClient) -> None:
    documented = client.app.openapi()["paths"]
    with_bodies = {
        (method.upper(), path)
        for path, operations in documented.items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    covered = {
        (
            method,
            path.replace("bob@example.com", "{user}")
            .replace("{alice}", "{user}")
            .replace("/USD/", "/{currency}/")
            .replace(NO_SUCH_DEAD_LETTER, "{dead_letter_id}")
            .replace(NO_SUCH_HOLD, "{hold_id}"),
        )
        for method, path, _, _ in VALID_BODIES.values()
    }
    assert covered == with_bodies


def for_every_body_endpoint(make: Any) -> list[Bad]:
    """make(endpoint, method, path, who, valid body) -> one bad request, for each endpoint."""
    return [make(endpoint, *VALID_BODIES[endpoint]) for endpoint in sorted(VALID_BODIES)]


def test_bodies_that_are_not_json_answer_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    cases = []
    for endpoint, (_, _, _, valid) in sorted(VALID_BODIES.items()):
        cases += [
            raw_body(endpoint, "cut short", b'{"amount": ', 422, "validation_error"),
            raw_body(endpoint, "trailing brace", json.dumps(valid).encode() + b"}", 422, "validation_error"),
            raw_body(
                endpoint,
                "single quotes",
                json.dumps(valid).replace('"', "'").encode(),
                422,
                "validation_error",
            ),
            raw_body(endpoint, "empty", b"", 422, "validation_error"),
        ]
    refuse_all(client, db, people, cases)


def test_json_that_is_not_an_object_answers_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    cases = []
    for document in ("array", "string", "number", "null"):
        cases += for_every_body_endpoint(
            lambda endpoint, method, path, who, valid, document=document: Bad(
                f"{endpoint} {document}",
                method,
                path,
                who,
                422,
                "validation_error",
                body={"array": [valid], "string": "hello", "number": 12, "null": None}[document],
            )
        )
    refuse_all(client, db, people, cases)


def test_unknown_extra_fields_answer_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    cases = for_every_body_endpoint(
        lambda endpoint, *_: with_body(endpoint, "is_admin", 422, "validation_error", is_admin=True)
    )
    refuse_all(client, db, people, cases)


def padding_past_the_limit(endpoint: str) -> str:
    """Enough to take the endpoint's valid body past its limit: about 100 KB for most."""
    return "x" * (BODY_LIMITS.get(endpoint, MAX_BODY_BYTES) + 34_000)


def test_bodies_over_the_limit_answer_413_payload_too_large(
    client: TestClient, db: Database, people: People
) -> None:
    cases = for_every_body_endpoint(
        lambda endpoint, *_: with_body(
            endpoint, "past the limit", 413, "payload_too_large", padding=padding_past_the_limit(endpoint)
        )
    )
    cases += for_every_body_endpoint(
        lambda endpoint, method, path, who, valid: Bad(
            f"{endpoint} past the limit sent chunked, without Content-Length",
            method,
            path,
            who,
            413,
            "payload_too_large",
            raw=json.dumps({**valid, "padding": padding_past_the_limit(endpoint)}).encode(),
            chunked=True,
        )
    )
    refuse_all(client, db, people, cases)


def test_bodies_that_are_not_utf8_answer_400_bad_request(
    client: TestClient, db: Database, people: People
) -> None:
    cases = for_every_body_endpoint(
        lambda endpoint, *_: raw_body(endpoint, "latin-1", b'{"reason": "caf\xe9"}', 400, "bad_request")
    )
    refuse_all(client, db, people, cases)


# --- amounts ---------------------------------------------------------------


def test_amounts_that_are_not_json_integers_answer_422_invalid_amount(
    client: TestClient, db: Database, people: People
) -> None:
    cases = []
    for endpoint in MONEY_MOVERS:
        method, path, who, valid = VALID_BODIES[endpoint]
        as_exponent = json.dumps({**valid, "amount": 1}).replace('"amount": 1', '"amount": 1e3').encode()
        cases += [
            with_body(endpoint, "string", 422, "invalid_amount", amount="12"),
            with_body(endpoint, "float", 422, "invalid_amount", amount=12.5),
            with_body(endpoint, "whole float", 422, "invalid_amount", amount=12.0),
            with_body(endpoint, "bool", 422, "invalid_amount", amount=True),
            with_body(endpoint, "null", 422, "invalid_amount", amount=None),
            with_body(endpoint, "object", 422, "invalid_amount", amount={"value": 12}),
            with_body(endpoint, "missing", 422, "invalid_amount", amount=UNSET),
            Bad(f"{endpoint} exponent", method, path, who, 422, "invalid_amount", raw=as_exponent),
        ]
    refuse_all(client, db, people, cases)


def test_amounts_out_of_range_answer_400_invalid_amount(
    client: TestClient, db: Database, people: People
) -> None:
    amounts = [10**30, 2**63, -(2**63), -(2**63) - 1, -1, 0]
    cases = [
        with_body(endpoint, str(amount), 400, "invalid_amount", amount=amount)
        for endpoint in MONEY_MOVERS
        for amount in amounts
    ]
    refuse_all(client, db, people, cases)


def test_a_deposit_that_would_overflow_a_balance_answers_400_invalid_amount(
    client: TestClient, db: Database, api: Api, people: People
) -> None:
    api.deposit(people.admin, people.bob.email, MAX_BIGINT, "EUR")
    cases = [
        with_body(
            "deposit",
            "onto a full wallet",
            400,
            "invalid_amount",
            user="bob@example.com",
            currency="EUR",
            amount=1,
        ),
        with_body("deposit", "from a drained system wallet", 400, "invalid_amount", currency="EUR", amount=1),
    ]
    refuse_all(client, db, people, cases)
    assert api.balance(people.bob, "EUR") == MAX_BIGINT


# --- currencies ------------------------------------------------------------

CURRENCY_BODIES = [*MONEY_MOVERS, "open-wallet"]


def test_an_unknown_currency_in_a_body_answers_400_unsupported_currency(
    client: TestClient, db: Database, people: People
) -> None:
    cases = [
        with_body(endpoint, "XYZ", 400, "unsupported_currency", currency="XYZ")
        for endpoint in CURRENCY_BODIES
    ]
    refuse_all(client, db, people, cases)


def test_a_badly_formed_currency_in_a_body_answers_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    values: list[Any] = ["US", "usdollars", "12€", "", "U$D", 840, None, ["USD"]]
    cases = [
        with_body(endpoint, repr(value), 422, "validation_error", currency=value)
        for endpoint in CURRENCY_BODIES
        for value in values
    ]
    refuse_all(client, db, people, cases)


def test_an_unknown_currency_in_a_path_or_query_answers_400_unsupported_currency(
    client: TestClient, db: Database, people: People
) -> None:
    cases = [
        Bad("wallet", "GET", "/v1/wallets/XYZ", "alice", 400, "unsupported_currency"),
        Bad("close wallet", "DELETE", "/v1/wallets/XYZ", "alice", 400, "unsupported_currency"),
        Bad(
            "history",
            "GET",
            "/v1/transfers",
            "alice",
            400,
            "unsupported_currency",
            params={"currency": "XYZ"},
        ),
        Bad(
            "freeze wallet",
            "POST",
            "/v1/admin/users/{alice}/wallets/XYZ/freeze",
            "admin",
            400,
            "unsupported_currency",
            body={"reason": "check"},
        ),
    ]
    refuse_all(client, db, people, cases)


def test_a_badly_formed_currency_in_a_path_or_query_answers_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    cases = []
    for value in ("US", "usdollars", "12%E2%82%AC", "U%24D"):
        cases += [
            Bad(f"wallet {value}", "GET", f"/v1/wallets/{value}", "alice", 422, "validation_error"),
            Bad(f"close wallet {value}", "DELETE", f"/v1/wallets/{value}", "alice", 422, "validation_error"),
            Bad(
                f"freeze wallet {value}",
                "POST",
                f"/v1/admin/users/{{alice}}/wallets/{value}/freeze",
                "admin",
                422,
                "validation_error",
                body={"reason": "check"},
            ),
        ]
    for value in ("US", "usdollars", "12€", ""):
        cases.append(
            Bad(
                f"history {value!r}",
                "GET",
                "/v1/transfers",
                "alice",
                422,
                "validation_error",
                params={"currency": value},
            )
        )
    refuse_all(client, db, people, cases)


# --- strings: types, lengths, blanks ----------------------------------------


def test_overlong_strings_answer_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    long_email = "e" * 288 + "@example.com"
    assert len(long_email) == 300
    cases = [
        with_body("transfer", "memo of 281", 422, "validation_error", memo="m" * 281),
        with_body("transfer", "to_email of 300", 422, "validation_error", to_email=long_email),
        with_body("signup", "full_name of 201", 422, "validation_error", full_name="n" * 201),
        with_body("signup", "email of 300", 422, "validation_error", email=long_email),
        with_body("signup", "password of 1025", 422, "validation_error", password="p" * 1025),
        with_body("login", "email of 300", 422, "validation_error", email=long_email),
        with_body("login", "password of 1025", 422, "validation_error", password="p" * 1025),
        with_body("refresh", "token of 201", 422, "validation_error", refresh_token="r" * 201),
        with_body("password", "new password of 1025", 422, "validation_error", new_password="p" * 1025),
        with_body("deposit", "user of 255", 422, "validation_error", user="u" * 255),
        with_body("deposit", "reason of 501", 422, "validation_error", reason="r" * 501),
        with_body("freeze-user", "reason of 501", 422, "validation_error", reason="r" * 501),
        with_body("reverse", "reason of 501", 422, "validation_error", reason="r" * 501),
        Bad(
            "users q of 255",
            "GET",
            "/v1/admin/users",
            "admin",
            422,
            "validation_error",
            params={"q": "q" * 255},
        ),
        Bad(
            "history since of 41",
            "GET",
            "/v1/transfers",
            "alice",
            422,
            "validation_error",
            params={"since": "2" * 41},
        ),
        Bad(
            "history cursor of 501",
            "GET",
            "/v1/transfers",
            "alice",
            422,
            "validation_error",
            params={"cursor": "c" * 501},
        ),
    ]
    refuse_all(client, db, people, cases)


def test_an_idempotency_key_of_201_characters_answers_400_idempotency_key_invalid(
    client: TestClient, db: Database, people: People
) -> None:
    cases = []
    for endpoint in [*MONEY_MOVERS, "reverse"]:
        method, path, who, valid = VALID_BODIES[endpoint]
        cases.append(
            Bad(
                f"{endpoint} key",
                method,
                path,
                who,
                400,
                "idempotency_key_invalid",
                body=valid,
                key="k" * 201,
            )
        )
    refuse_all(client, db, people, cases)


def test_other_bad_idempotency_keys_are_refused(client: TestClient, db: Database, people: People) -> None:
    method, path, who, valid = VALID_BODIES["transfer"]

    def keyed(label: str, key: str | bytes | None, code: str) -> Bad:
        return Bad(label, method, path, who, 400, code, body=valid, key=key)

    cases = [
        keyed("missing", None, "idempotency_key_required"),
        keyed("empty", "", "idempotency_key_required"),
        keyed("non-ASCII", "clé-unique".encode(), "idempotency_key_invalid"),
        keyed("tab inside", "a\tb", "idempotency_key_invalid"),
    ]
    refuse_all(client, db, people, cases)


def test_strings_of_the_wrong_type_answer_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    cases = [
        with_body("signup", "email number", 422, "validation_error", email=42),
        with_body("signup", "full_name number", 422, "validation_error", full_name=5),
        with_body("signup", "password number", 422, "validation_error", password=12345678),
        with_body("signup", "password null", 422, "validation_error", password=None),
        with_body("login", "password list", 422, "validation_error", password=["a"]),
        with_body("refresh", "token number", 422, "validation_error", refresh_token=123),
        with_body("password", "current missing", 422, "validation_error", current_password=UNSET),
        with_body("password", "new number", 422, "validation_error", new_password=12345678),
        with_body("transfer", "memo number", 422, "validation_error", memo=123),
        with_body("transfer", "to_email number", 422, "validation_error", to_email=7),
        with_body("deposit", "user number", 422, "validation_error", user=1),
        with_body("freeze-user", "reason bool", 422, "validation_error", reason=True),
        with_body("freeze-user", "reason missing", 422, "validation_error", reason=UNSET),
    ]
    refuse_all(client, db, people, cases)


def test_blank_and_malformed_strings_answer_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    cases = [
        with_body("signup", "blank full_name", 422, "validation_error", full_name="   "),
        with_body("signup", "empty full_name", 422, "validation_error", full_name=""),
        with_body("signup", "email without @", 422, "validation_error", email="not-an-email"),
        with_body("login", "email without @", 422, "validation_error", email="not-an-email"),
        with_body("refresh", "empty token", 422, "validation_error", refresh_token=""),
        with_body("deposit", "empty user", 422, "validation_error", user=""),
        with_body("freeze-user", "empty reason", 422, "validation_error", reason=""),
        with_body("transfer", "to_email without @", 422, "validation_error", to_email="bob"),
        with_body(
            "transfer",
            "to_wallet_id not a UUID",
            422,
            "validation_error",
            to_email=UNSET,
            to_wallet_id="not-a-uuid",
        ),
        with_body("transfer", "two recipients", 422, "validation_error", to_wallet_id=str(uuid.uuid4())),
        with_body("transfer", "no recipient", 422, "validation_error", to_email=UNSET),
    ]
    refuse_all(client, db, people, cases)


def test_nul_characters_are_refused_with_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    cases = [
        with_body("signup", "in full_name", 422, "validation_error", full_name="Carol\x00Jones"),
        with_body("transfer", "in memo", 422, "validation_error", memo="lunch\x00"),
        with_body("deposit", "in reason", 422, "validation_error", reason="cash\x00in"),
        with_body("deposit", "in user", 422, "validation_error", user="alice\x00@example.com"),
        with_body("freeze-user", "in reason", 422, "validation_error", reason="\x00"),
        Bad("in users q", "GET", "/v1/admin/users", "admin", 422, "validation_error", params={"q": "a\x00"}),
        Bad(
            "in user path",
            "POST",
            "/v1/admin/users/bob%00/freeze",
            "admin",
            422,
            "validation_error",
            body={"reason": "check"},
        ),
    ]
    refuse_all(client, db, people, cases)


def test_text_that_only_spells_a_nul_escape_is_accepted(client: TestClient, people: People) -> None:
    body = {"email": "carol@example.com", "full_name": "Carol \\u0000 Jones", "password": "carol-password-1"}
    response = client.post("/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["full_name"] == "Carol \\u0000 Jones"


# --- paths and queries ------------------------------------------------------


def test_bad_uuids_in_paths_answer_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    cases = []
    for value in ("not-a-uuid", "1234", str(uuid.uuid4()) + "0", "%20"):
        cases += [
            Bad(f"transfer {value}", "GET", f"/v1/transfers/{value}", "alice", 422, "validation_error"),
            Bad(f"session {value}", "DELETE", f"/v1/sessions/{value}", "alice", 422, "validation_error"),
            Bad(
                f"reverse {value}",
                "POST",
                f"/v1/admin/transfers/{value}/reverse",
                "admin",
                422,
                "validation_error",
                body={"reason": "mistake"},
            ),
        ]
    refuse_all(client, db, people, cases)


def encoded_cursor(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


BAD_CURSORS = [
    "!!!",
    "x",
    "é",
    encoded_cursor({"created_at": "2026-01-01T00:00:00+00:00", "id": str(uuid.uuid4())}),
    encoded_cursor(["2026-01-01T00:00:00+00:00"]),
    encoded_cursor(["2026-01-01T00:00:00+00:00", "not-a-uuid"]),
    encoded_cursor(["yesterday", str(uuid.uuid4())]),
    encoded_cursor([1, 2]),
    encoded_cursor(None),
    encoded_cursor(["9999-12-31T23:59:59-14:00", str(uuid.uuid4())]),
    encoded_cursor(["0001-01-01T00:00:00+14:00", str(uuid.uuid4())]),
    base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
]


LISTINGS = [
    ("/v1/transfers", "alice"),
    ("/v1/admin/users", "admin"),
    ("/v1/admin/audit-log", "admin"),
    ("/v1/sessions", "alice"),
    ("/v1/tokens", "alice"),
    ("/v1/wallets", "alice"),
    ("/v1/currencies", "alice"),
]


def test_bad_cursors_answer_400_invalid_cursor(client: TestClient, db: Database, people: People) -> None:
    cases = [
        Bad(f"{path} cursor {cursor!r}", "GET", path, who, 400, "invalid_cursor", params={"cursor": cursor})
        for path, who in LISTINGS
        for cursor in BAD_CURSORS
    ]
    refuse_all(client, db, people, cases)


def test_bad_dates_in_history_filters_answer_400_bad_request(
    client: TestClient, db: Database, people: People
) -> None:
    values = [
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "2026-01-01T25:00:00Z",
        "26-01-01",
        "2026/01/01",
        "0",
        " ",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
    ]
    cases = [
        Bad(f"{bound}={value!r}", "GET", "/v1/transfers", "alice", 400, "bad_request", params={bound: value})
        for value in values
        for bound in ("since", "until")
    ]
    cases.append(
        Bad(
            "until the last day there is",
            "GET",
            "/v1/transfers",
            "alice",
            400,
            "bad_request",
            params={"until": "9999-12-31"},
        )
    )
    refuse_all(client, db, people, cases)


def test_history_bounds_with_a_utc_offset_mean_that_instant(client: TestClient, people: People) -> None:
    items = client.get("/v1/transfers", headers=people.alice.headers).json()["items"]
    newest = datetime.fromisoformat(items[0]["created_at"])
    an_hour_later_in_new_york = (newest + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5)))
    an_hour_earlier_in_karachi = (newest - timedelta(hours=1)).astimezone(timezone(timedelta(hours=5)))
    since = client.get(
        "/v1/transfers", params={"since": an_hour_later_in_new_york.isoformat()}, headers=people.alice.headers
    )
    until = client.get(
        "/v1/transfers",
        params={"until": an_hour_earlier_in_karachi.isoformat()},
        headers=people.alice.headers,
    )
    assert (since.status_code, since.json()["items"]) == (200, [])
    assert (until.status_code, until.json()["items"]) == (200, [])


def test_bad_limits_answer_422_validation_error(client: TestClient, db: Database, people: People) -> None:
    values: list[Any] = [0, -1, 201, 10**30, "ten", "1.5", ""]
    cases = [
        Bad(f"{path} limit {value!r}", "GET", path, who, 422, "validation_error", params={"limit": value})
        for path, who in LISTINGS
        for value in values
    ]
    refuse_all(client, db, people, cases)


def test_a_bad_direction_in_history_answers_422_validation_error(
    client: TestClient, db: Database, people: People
) -> None:
    cases = [
        Bad(
            f"direction {value!r}",
            "GET",
            "/v1/transfers",
            "alice",
            422,
            "validation_error",
            params={"direction": value},
        )
        for value in ("sideways", "IN", "")
    ]
    refuse_all(client, db, people, cases)


def test_an_unknown_user_in_an_admin_path_or_body_answers_404_user_not_found(
    client: TestClient, db: Database, people: People
) -> None:
    cases = [
        Bad(
            "freeze",
            "POST",
            "/v1/admin/users/nobody@example.com/freeze",
            "admin",
            404,
            "user_not_found",
            body={"reason": "check"},
        ),
        Bad(
            "freeze by id",
            "POST",
            f"/v1/admin/users/{uuid.uuid4()}/freeze",
            "admin",
            404,
            "user_not_found",
            body={"reason": "check"},
        ),
        with_body("deposit", "nobody", 404, "user_not_found", user="nobody@example.com"),
    ]
    refuse_all(client, db, people, cases)


# --- secrets ---------------------------------------------------------------

SECRET = "Quokka-Zebra-4411-secret"


def signup_body(**changes: Any) -> dict[str, Any]:
    return {"email": "carol@example.com", "full_name": "Carol", "password": SECRET, **changes}


SECRET_REQUESTS: list[tuple[str, str, Any, bytes | None, int]] = [
    ("signup, bad email", "/v1/auth/signup", signup_body(email="not-an-email"), None, 422),
    ("signup, taken email", "/v1/auth/signup", signup_body(email="alice@example.com"), None, 409),
    ("signup, long name", "/v1/auth/signup", signup_body(full_name="n" * 201), None, 422),
    ("signup, blank name", "/v1/auth/signup", signup_body(full_name="   "), None, 422),
    ("signup, extra field", "/v1/auth/signup", signup_body(is_admin=True), None, 422),
    ("signup, password over 72 bytes", "/v1/auth/signup", signup_body(password=SECRET * 4), None, 400),
    ("signup, password over 1024 chars", "/v1/auth/signup", signup_body(password=SECRET * 50), None, 422),
    ("signup, NUL in name", "/v1/auth/signup", signup_body(full_name="a\x00"), None, 422),
    ("signup, cut-short JSON", "/v1/auth/signup", None, json.dumps(signup_body()).encode()[:-1], 422),
    (
        "login, wrong password",
        "/v1/auth/login",
        {"email": "alice@example.com", "password": SECRET},
        None,
        401,
    ),
    ("login, bad email", "/v1/auth/login", {"email": "not-an-email", "password": SECRET}, None, 422),
    (
        "login, extra field",
        "/v1/auth/login",
        {"email": "a@example.com", "password": SECRET, "x": 1},
        None,
        422,
    ),
    (
        "password change, wrong current",
        "/v1/me/password",
        {"current_password": SECRET, "new_password": "another-password-1"},
        None,
        401,
    ),
    (
        "password change, new over 72 bytes",
        "/v1/me/password",
        {"current_password": DEFAULT_PASSWORD, "new_password": SECRET * 4},
        None,
        400,
    ),
    (
        "password change, new not a string",
        "/v1/me/password",
        {"current_password": SECRET, "new_password": 12345678},
        None,
        422,
    ),
]


def test_no_error_response_ever_contains_the_password(client: TestClient, alice: Account) -> None:
    wrong = []
    for label, path, body, raw, status in SECRET_REQUESTS:
        headers = alice.headers if path == "/v1/me/password" else {}
        if raw is not None:
            response = client.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})
        else:
            response = client.post(path, json=body, headers=headers)
        if (response.status_code, response.headers["content-type"]) != (status, PROBLEM):
            wrong.append(f"{label}: {response.status_code} {response.text}")
        elif "code" not in response.json() or SECRET.lower() in response.text.lower():
            wrong.append(f"{label}: {response.text}")
    assert wrong == []
