"""Every route that needs a token refuses every bad credential; users reach only their own data.

The matrix is built from the application's own route table, so a route added
later is attacked too, and a route that forgets authentication fails the
public-route check instead of slipping through.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastapi.routing
import jwt
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.routing import BaseRoute

from gopherpayd.events.dispatch import InProcessDispatcher
from gopherpayd.identity.dependencies import admin_principal, current_principal, token_caller
from gopherpayd.kit.db import Database
from gopherpayd.notifications.handler import NotificationHandler
from gopherpayd.settings import Settings
from tests.conftest import TEST_JWT_SECRET
from tests.identity.problems import assert_problem
from tests.support.api import DEFAULT_PASSWORD, Account, Api
from tests.support.databases import LEDGER_TABLES

PUBLIC_ROUTES = {
    ("POST", "/v1/auth/signup"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("GET", "/v1/currencies"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    # No token: Prometheus scrapes by address (GOPHERPAY_METRICS_ALLOW); tests/kit/test_metrics.py.
    ("GET", "/metrics"),
}
ENDLESS_STREAMS = {"/v1/stream"}
DOCUMENTATION_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
OTHER_SECRET = "not-the-daemon-secret-" + "y" * 40
PATH_PARAM = re.compile(r"\{(\w+)\}")


# --- the route table -------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """One method on one path, as the application really serves it."""

    method: str
    path: str
    route: APIRoute
    dependant: Dependant
    """With whatever include_router added, which is what guards the request."""


def served_routes(app: FastAPI) -> list[Served]:
    """Every API route the app serves; FastAPI >= 0.16x keeps included routers unflattened."""
    pairs: list[tuple[BaseRoute, Any]]
    if hasattr(fastapi.routing, "iter_route_contexts"):
        pairs = [
            (context.original_route, context) for context in fastapi.routing.iter_route_contexts(app.routes)
        ]
    else:
        pairs = [(route, route) for route in app.routes]
    served = [
        Served(method, route.path, route, getattr(context, "dependant", route.dependant))
        for route, context in pairs
        if isinstance(route, APIRoute)
        for method in route.methods
    ]
    return sorted(served, key=lambda item: (item.path, item.method))


def other_paths(app: FastAPI) -> set[str]:
    if hasattr(fastapi.routing, "iter_route_contexts"):
        routes = [context.original_route for context in fastapi.routing.iter_route_contexts(app.routes)]
    else:
        routes = list(app.routes)
    return {route.path for route in routes if not isinstance(route, APIRoute)}  # type: ignore[attr-defined]


def depends_on(served: Served, dependency: Callable[..., Any]) -> bool:
    pending = list(served.dependant.dependencies)
    while pending:
        current = pending.pop()
        if current.call is dependency:
            return True
        pending.extend(current.dependencies)
    return False


def protected_routes(app: FastAPI) -> list[Served]:
    return [item for item in served_routes(app) if (item.method, item.path) not in PUBLIC_ROUTES]


def is_admin_route(path: str) -> bool:
    return path.startswith("/v1/admin/")


# --- the people and the things they own -------------------------------------


@dataclass
class World:
    admin: Account
    alice: Account
    bob: Account
    deposit_id: str
    """Outside world -> alice."""
    transfer_id: str
    """Alice -> bob."""
    revoked_alice: Account
    revoked_admin: Account
    notification_id: str
    """One of alice's inbox entries."""
    hold_id: str
    """Alice holds money for bob."""

    def path_values(self, variant: str) -> dict[str, str]:
        if variant == "victim":
            return {
                "session_id": self.alice.session_id,
                "transfer_id": self.deposit_id,
                "currency": "USD",
                "user": self.alice.email,
                "notification_id": self.notification_id,
                "dead_letter_id": str(uuid.uuid4()),
                "token_id": str(uuid.uuid4()),
                "hold_id": self.hold_id,
            }
        return {
            "session_id": str(uuid.uuid4()),
            "transfer_id": str(uuid.uuid4()),
            "currency": "EUR",
            "user": str(uuid.uuid4()),
            "notification_id": str(uuid.uuid4()),
            "dead_letter_id": str(uuid.uuid4()),
            "token_id": str(uuid.uuid4()),
            "hold_id": str(uuid.uuid4()),
        }

    def bodies(self) -> dict[tuple[str, str], dict[str, Any]]:
        """A body that would do harm if the request got through, per route that takes one."""
        reason = {"reason": "authorization matrix"}
        cash = {"user": self.alice.email, "amount": 100, "currency": "USD", "reason": "authorization matrix"}
        return {
            ("POST", "/v1/me/password"): {
                "current_password": DEFAULT_PASSWORD,
                "new_password": "taken-over-password",
            },
            ("POST", "/v1/wallets"): {"currency": "EUR"},
            ("POST", "/v1/transfers"): {"amount": 100, "currency": "USD", "to_email": self.bob.email},
            ("POST", "/v1/transfers/batch"): {
                "items": [{"key": "matrix", "amount": 100, "currency": "USD", "to_email": self.bob.email}]
            },
            ("POST", "/v1/admin/deposits"): cash,
            ("POST", "/v1/admin/withdrawals"): cash,
            ("POST", "/v1/admin/transfers/{transfer_id}/reverse"): reason,
            ("POST", "/v1/admin/users/{user}/freeze"): reason,
            ("POST", "/v1/admin/users/{user}/unfreeze"): reason,
            ("POST", "/v1/admin/users/{user}/wallets/{currency}/freeze"): reason,
            ("POST", "/v1/admin/users/{user}/wallets/{currency}/unfreeze"): reason,
            ("POST", "/v1/auth/verify-email"): {"code": "000000"},
            ("POST", "/v1/admin/events/dead-letters/replay"): reason,
            ("POST", "/v1/admin/events/dead-letters/{dead_letter_id}/replay"): reason,
            ("POST", "/v1/tokens"): {"name": "matrix", "scope": "transfer"},
            ("POST", "/v1/admin/fx/rates"): {"sell": "USD", "buy": "EUR", "rate": "1000", **reason},
            ("POST", "/v1/fx/quotes"): {"sell": "USD", "buy": "EUR", "sell_amount": 100},
            ("POST", "/v1/fx/exchange"): {"quote_id": "00000000-0000-4000-8000-000000000000"},
            ("POST", "/v1/holds"): {
                "to": self.bob.email,
                "amount": 100,
                "currency": "USD",
                "expires_in": 600,
            },
            ("POST", "/v1/holds/{hold_id}/capture"): {"amount": 100},
            ("POST", "/v1/holds/{hold_id}/extend"): {"expires_in": 7_200},
        }


@pytest.fixture
def world(
    api: Api,
    client: TestClient,
    db: Database,
    settings: Settings,
    admin: Account,
    alice: Account,
    bob: Account,
) -> World:
    deposit_id = api.deposit(admin, alice.email, 10_000)["id"]
    sent = api.transfer(alice, bob.email, 1_000)
    assert sent.status_code == 201, sent.text
    revoked = []
    for email in (alice.email, admin.email):
        account = api.login(email)
        assert client.post("/v1/auth/logout", headers=account.headers).status_code == 204
        revoked.append(account)
    handler = NotificationHandler(db, settings)
    dispatcher = InProcessDispatcher(db, settings, handler)
    while dispatcher.run_once():
        pass
    inbox = client.get("/v1/notifications", headers=alice.headers).json()["items"]
    held = client.post(
        "/v1/holds",
        json={"to": bob.email, "amount": 500, "currency": "USD", "expires_in": 3_600},
        headers={**alice.headers, "Idempotency-Key": "world-hold"},
    )
    assert held.status_code == 201, held.text
    return World(
        admin,
        alice,
        bob,
        deposit_id,
        sent.json()["id"],
        revoked[0],
        revoked[1],
        inbox[0]["id"],
        held.json()["id"],
    )


def fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"the matrix has no value for {{{name}}} in {path}: add one to World"
        return values[name]

    return PATH_PARAM.sub(value, path)


QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/v1/statement"): {
        "currency": "USD",
        "since": "2000-01-01T00:00:00+00:00",
        "until": "2100-01-01T00:00:00+00:00",
    },
}
"""The query parameters a route requires, so a request reaches its authorization check."""


def call(client: TestClient, world: World, item: Served, variant: str, headers: dict[str, str]) -> Any:
    bodies = world.bodies()
    key = (item.method, item.path)
    takes_body = item.route.body_field is not None
    assert takes_body == (key in bodies), f"{item.method} {item.path}: keep World.bodies in step with the app"
    path = fill(item.path, world.path_values(variant))
    headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
    if item.path in ENDLESS_STREAMS:
        # A granted stream never ends: read the status, then hang up.
        with client.stream(item.method, path, headers=headers) as response:
            if response.status_code != 200:
                response.read()
            return response
    return client.request(item.method, path, json=bodies.get(key), params=QUERIES.get(key), headers=headers)


# --- tokens ----------------------------------------------------------------

DROP = object()


def claims_for(account: Account, role: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "gopherpayd",
        "aud": "gopherpay",
        "sub": account.user_id,
        "sid": account.session_id,
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not DROP}


def signed(claims: dict[str, Any], key: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=algorithm)}"}


def unsigned(claims: dict[str, Any]) -> dict[str, str]:
    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    return {"Authorization": f"Bearer {part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."}


@dataclass(frozen=True)
class Attack:
    code: str
    headers: Callable[[World, Account, str], dict[str, str]]
    """(world, account whose identity is borrowed, its role) -> request headers."""


def _revoked(world: World, account: Account, _role: str) -> dict[str, str]:
    return (world.revoked_admin if account is world.admin else world.revoked_alice).headers


def _someone_elses_session(world: World, account: Account, role: str) -> dict[str, str]:
    other = world.bob if account is world.alice else world.alice
    return signed(claims_for(account, role, sid=other.session_id))


def _hours_ago(world: World, account: Account, role: str) -> dict[str, str]:
    now = int(time.time())
    return signed(claims_for(account, role, iat=now - 7_200, nbf=now - 7_200, exp=now - 3_600))


ATTACKS: dict[str, Attack] = {
    "no-token": Attack("authentication_required", lambda w, a, r: {}),
    "basic-scheme": Attack(
        "authentication_required",
        lambda w, a, r: {"Authorization": "Basic " + base64.b64encode(f"{a.email}:x".encode()).decode()},
    ),
    "empty-bearer": Attack("authentication_required", lambda w, a, r: {"Authorization": "Bearer "}),
    "garbage-token": Attack("invalid_token", lambda w, a, r: {"Authorization": "Bearer not.a.jwt"}),
    "unknown-api-token": Attack(
        "api_token_invalid", lambda w, a, r: {"Authorization": "Bearer gpt_" + "x" * 43}
    ),
    "expired": Attack("token_expired", _hours_ago),
    "other-secret": Attack("invalid_token", lambda w, a, r: signed(claims_for(a, r), key=OTHER_SECRET)),
    "alg-none": Attack("invalid_token", lambda w, a, r: unsigned(claims_for(a, r))),
    "hs512-with-the-right-secret": Attack(
        "invalid_token", lambda w, a, r: signed(claims_for(a, r), algorithm="HS512")
    ),
    "wrong-audience": Attack("invalid_token", lambda w, a, r: signed(claims_for(a, r, aud="someone-else"))),
    "wrong-issuer": Attack("invalid_token", lambda w, a, r: signed(claims_for(a, r, iss="evil-issuer"))),
    "missing-exp": Attack("invalid_token", lambda w, a, r: signed(claims_for(a, r, exp=DROP))),
    "missing-jti": Attack("invalid_token", lambda w, a, r: signed(claims_for(a, r, jti=DROP))),
    "not-yet-valid": Attack(
        "invalid_token", lambda w, a, r: signed(claims_for(a, r, nbf=int(time.time()) + 3_600))
    ),
    "subject-not-a-uuid": Attack("invalid_token", lambda w, a, r: signed(claims_for(a, r, sub="admin"))),
    "revoked-session": Attack("session_revoked", _revoked),
    "session-that-does-not-exist": Attack(
        "session_revoked", lambda w, a, r: signed(claims_for(a, r, sid=str(uuid.uuid4())))
    ),
    "someone-elses-session": Attack("session_revoked", _someone_elses_session),
}

NO_BEARER_TOKEN = ["no-token", "basic-scheme", "empty-bearer"]
NOT_SIGNED_HS256_BY_THE_DAEMON = [
    "garbage-token",
    "unknown-api-token",
    "other-secret",
    "alg-none",
    "hs512-with-the-right-secret",
]
BAD_CLAIMS = [
    "expired",
    "wrong-audience",
    "wrong-issuer",
    "missing-exp",
    "missing-jti",
    "not-yet-valid",
    "subject-not-a-uuid",
]
SESSIONS_NOT_LIVE = ["revoked-session", "session-that-does-not-exist", "someone-elses-session"]


def snapshot(db: Database) -> tuple[Any, ...]:
    """Everything an attack could change: users, wallets, sessions, and the size of every table."""
    with db.engine.connect() as connection:
        users = connection.execute(
            text("SELECT email, password_hash, frozen FROM users ORDER BY email")
        ).all()
        wallets = connection.execute(
            text("SELECT id, balance, held, frozen, closed_at FROM wallets ORDER BY id")
        ).all()
        sessions = connection.execute(text("SELECT id, revoked_at FROM sessions ORDER BY id")).all()
        counts = [
            connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() for table in LEDGER_TABLES
        ]
    return tuple(users), tuple(wallets), tuple(sessions), tuple(counts)


# --- the route table itself ------------------------------------------------


def test_the_public_routes_are_exactly_the_known_list(client: TestClient) -> None:
    served = served_routes(client.app)
    public = {
        (item.method, item.path)
        for item in served
        if not depends_on(item, current_principal) and not depends_on(item, token_caller)
    }
    assert public == PUBLIC_ROUTES


def test_the_only_routes_outside_the_api_are_the_documentation_pages(client: TestClient) -> None:
    assert other_paths(client.app) == DOCUMENTATION_PATHS


def test_the_route_walk_finds_every_operation_in_the_openapi_document(client: TestClient) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in client.app.openapi()["paths"].items()
        for method in operations
    }
    assert {(item.method, item.path) for item in served_routes(client.app)} == documented
    assert len(documented) == 56


def test_exactly_the_admin_routes_require_the_admin_role(client: TestClient) -> None:
    served = served_routes(client.app)
    needing_admin = {(item.method, item.path) for item in served if depends_on(item, admin_principal)}
    under_admin = {(item.method, item.path) for item in served if is_admin_route(item.path)}
    assert needing_admin == under_admin
    assert len(under_admin) == 16


# --- bad credentials on every protected route -------------------------------


def outcome(response: Any) -> tuple[Any, ...]:
    is_json = response.headers.get("content-type", "").endswith("json")
    return (
        response.status_code,
        response.headers.get("content-type"),
        response.json().get("code") if is_json else None,
        response.headers.get("www-authenticate"),
    )


def attack_every_protected_route(client: TestClient, db: Database, world: World, names: list[str]) -> None:
    """Each named attack on every protected route, with the victim's and with random path values."""
    before = snapshot(db)
    wrong = []
    for name in names:
        attack = ATTACKS[name]
        for item in protected_routes(client.app):
            account, role = (world.admin, "admin") if is_admin_route(item.path) else (world.alice, "user")
            for variant in ("victim", "random"):
                response = call(client, world, item, variant, attack.headers(world, account, role))
                got = outcome(response)
                if got != (401, "application/problem+json", attack.code, "Bearer"):
                    wrong.append(f"{name}: {item.method} {item.path} ({variant}): {got}")
    assert wrong == [], "got through or answered wrongly:\n" + "\n".join(wrong)
    assert snapshot(db) == before


def test_every_protected_route_refuses_a_request_without_a_bearer_token(
    client: TestClient, db: Database, world: World
) -> None:
    attack_every_protected_route(client, db, world, NO_BEARER_TOKEN)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_every_protected_route_refuses_tokens_not_signed_hs256_by_the_daemon(
    client: TestClient, db: Database, world: World
) -> None:
    attack_every_protected_route(client, db, world, NOT_SIGNED_HS256_BY_THE_DAEMON)


def test_every_protected_route_refuses_signed_tokens_with_bad_claims(
    client: TestClient, db: Database, world: World
) -> None:
    attack_every_protected_route(client, db, world, BAD_CLAIMS)


def test_every_protected_route_refuses_tokens_of_sessions_that_are_not_live(
    client: TestClient, db: Database, world: World
) -> None:
    attack_every_protected_route(client, db, world, SESSIONS_NOT_LIVE)


def test_the_attack_groups_hold_every_attack_once() -> None:
    grouped = NO_BEARER_TOKEN + NOT_SIGNED_HS256_BY_THE_DAEMON + BAD_CLAIMS + SESSIONS_NOT_LIVE
    assert sorted(grouped) == sorted(ATTACKS)


def test_valid_tokens_read_every_protected_get_route(client: TestClient, world: World) -> None:
    """The control for the matrix: its requests are well formed, so a 401 there means the token."""
    wrong = []
    gets = [item for item in protected_routes(client.app) if item.method == "GET"]
    for item in gets:
        account = world.admin if is_admin_route(item.path) else world.alice
        response = call(client, world, item, "victim", account.headers)
        if response.status_code != 200:
            wrong.append(f"GET {item.path}: {response.status_code} {response.text}")
    assert wrong == []
    assert len(gets) == 19


def test_a_regular_users_token_is_forbidden_on_every_admin_route(
    client: TestClient, db: Database, world: World
) -> None:
    before = snapshot(db)
    wrong = []
    admin_routes = [item for item in protected_routes(client.app) if is_admin_route(item.path)]
    for item in admin_routes:
        for variant in ("victim", "random"):
            response = call(client, world, item, variant, world.alice.headers)
            if outcome(response)[:3] != (403, "application/problem+json", "forbidden"):
                wrong.append(f"{item.method} {item.path} ({variant}): {outcome(response)}")
    assert wrong == []
    assert len(admin_routes) == 16
    assert snapshot(db) == before


def test_a_forged_admin_role_claim_does_not_make_a_user_an_admin(client: TestClient, world: World) -> None:
    forged = signed(claims_for(world.alice, "admin"))
    assert_problem(client.get("/v1/admin/audit", headers=forged), 403, "forbidden")


# --- one user against another ----------------------------------------------


def test_bob_cannot_read_a_transfer_he_is_not_a_party_to(client: TestClient, world: World) -> None:
    response = client.get(f"/v1/transfers/{world.deposit_id}", headers=world.bob.headers)
    assert_problem(response, 404, "transfer_not_found")


def test_bob_can_read_a_transfer_he_received(client: TestClient, world: World) -> None:
    response = client.get(f"/v1/transfers/{world.transfer_id}", headers=world.bob.headers)
    assert response.status_code == 200, response.text
    assert (response.json()["id"], response.json()["direction"]) == (world.transfer_id, "in")


def test_bob_cannot_revoke_alices_session(client: TestClient, world: World) -> None:
    response = client.delete(f"/v1/sessions/{world.alice.session_id}", headers=world.bob.headers)
    assert_problem(response, 404, "session_not_found")
    assert client.get("/v1/me", headers=world.alice.headers).status_code == 200


def test_bobs_session_list_holds_only_his_sessions(client: TestClient, world: World) -> None:
    items = client.get("/v1/sessions", headers=world.bob.headers).json()["items"]
    assert [item["id"] for item in items] == [world.bob.session_id]


def test_bob_cannot_read_or_close_alices_wallet(client: TestClient, world: World) -> None:
    opened = client.post("/v1/wallets", json={"currency": "EUR"}, headers=world.alice.headers)
    assert opened.status_code == 201, opened.text
    assert_problem(client.get("/v1/wallets/EUR", headers=world.bob.headers), 404, "wallet_not_found")
    assert_problem(client.delete("/v1/wallets/EUR", headers=world.bob.headers), 404, "wallet_not_found")
    still_open = client.get("/v1/wallets/EUR", headers=world.alice.headers)
    assert still_open.status_code == 200, still_open.text
    assert (still_open.json()["id"], still_open.json()["closed_at"]) == (opened.json()["id"], None)


def test_bobs_wallet_list_shows_only_his_wallets(client: TestClient, world: World) -> None:
    alice_wallets = client.get("/v1/wallets", headers=world.alice.headers).json()["items"]
    bob_wallets = client.get("/v1/wallets", headers=world.bob.headers).json()["items"]
    assert [(w["currency"], w["balance"]) for w in bob_wallets] == [("USD", 1_000)]
    assert {w["id"] for w in bob_wallets}.isdisjoint({w["id"] for w in alice_wallets})


def test_bobs_history_shows_only_his_own_transfers(client: TestClient, api: Api, world: World) -> None:
    carol = api.signup("carol@example.com")
    assert api.transfer(world.alice, carol.email, 500).status_code == 201
    response = client.get("/v1/transfers", headers=world.bob.headers)
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [world.transfer_id]


# --- holds: the payer, the payee, and everyone else ---------------------------

HOLD_ACTIONS = {"capture": {"amount": 100}, "void": None, "decline": None, "extend": {"expires_in": 7_200}}


def hold_action(client: TestClient, world: World, who: Account, action: str) -> Any:
    return client.post(
        f"/v1/holds/{world.hold_id}/{action}",
        json=HOLD_ACTIONS[action],
        headers={**who.headers, "Idempotency-Key": str(uuid.uuid4())},
    )


def test_a_stranger_is_told_a_hold_does_not_exist_whatever_they_ask(
    client: TestClient, api: Api, db: Database, world: World
) -> None:
    carol = api.signup("carol@example.com")
    before = snapshot(db)
    answers = [hold_action(client, world, carol, action) for action in HOLD_ACTIONS]
    answers.append(client.get(f"/v1/holds/{world.hold_id}", headers=carol.headers))
    for response in answers:
        assert_problem(response, 404, "hold_not_found")
    assert client.get("/v1/holds", headers=carol.headers).json()["items"] == []
    assert snapshot(db)[1:3] == before[1:3]


def test_the_payee_cannot_capture_void_or_extend_and_the_payer_cannot_decline(
    client: TestClient, db: Database, world: World
) -> None:
    before = snapshot(db)
    for who, action in [
        (world.bob, "capture"),
        (world.bob, "void"),
        (world.bob, "extend"),
        (world.alice, "decline"),
    ]:
        assert_problem(hold_action(client, world, who, action), 403, "hold_action_forbidden")
    assert snapshot(db)[1:3] == before[1:3]
    assert client.get(f"/v1/holds/{world.hold_id}", headers=world.bob.headers).json()["role"] == "payee"
