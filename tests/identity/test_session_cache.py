"""The short session cache: a request does not open a transaction to learn who is calling,
and a revoked session still stops working within the stated bound.

"Another daemon process" is played by SQL sent on a plain connection: it changes the rows
without this process's ORM sessions, so this process hears nothing of it, as a second
daemon's commit would be heard of nothing."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Update, update
from sqlmodel import col

from gopherpayd.identity.dependencies import _session_cache
from gopherpayd.identity.models import AuthSession, User
from gopherpayd.identity.service import Principal
from gopherpayd.identity.session_cache import SessionCache
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.context import AppContext
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from tests.support.api import Account, Api


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def cache_of(client: TestClient) -> SessionCache:
    app = client.app
    assert isinstance(app, FastAPI)
    context = app.state.context
    assert isinstance(context, AppContext)
    return _session_cache(context)


def with_fake_clock(client: TestClient) -> FakeClock:
    clock = FakeClock()
    cache = cache_of(client)
    cache._clock = clock
    cache.forget_all()
    return clock


def behind_this_process(db: Database, statement: Update) -> None:
    """Core SQL on a plain connection: no ORM session of this process sees it."""
    with db.engine.begin() as connection:
        connection.execute(statement)


def me(client: TestClient, account: Account) -> int:
    return client.get("/v1/me", headers=account.headers).status_code


def test_the_bound_is_one_second_by_default_and_zero_turns_the_cache_off() -> None:
    assert Settings.model_fields["session_cache_seconds"].default == 1.0
    cache = SessionCache(0)
    cache.put(_principal(), read_at=0, generation=cache.generation())
    assert cache.get(_principal().session_id, _principal().user_id) is None


def test_a_session_revoked_by_another_process_stops_working_once_the_bound_has_passed(
    client: TestClient, db: Database, settings: Settings, alice: Account
) -> None:
    clock = with_fake_clock(client)
    assert me(client, alice) == 200  # read from the database, and remembered

    revoke = update(AuthSession).where(col(AuthSession.id) == uuid.UUID(alice.session_id))
    behind_this_process(db, revoke.values(revoked_at=utcnow(), revoked_reason="logout"))
    read_at = clock.now
    clock.now = read_at + settings.session_cache_seconds * 0.9
    still = me(client, alice)
    clock.now = read_at + settings.session_cache_seconds
    after = me(client, alice)

    assert (still, after) == (200, 401)


def test_a_logout_in_this_process_ends_the_session_at_once(client: TestClient, alice: Account) -> None:
    with_fake_clock(client)  # time stands still: only the invalidation can end it
    assert me(client, alice) == 200

    assert client.post("/v1/auth/logout", headers=alice.headers).status_code in (200, 204)

    assert me(client, alice) == 401


def test_a_freeze_in_this_process_ends_the_session_at_once(
    client: TestClient, api: Api, admin: Account, alice: Account
) -> None:
    with_fake_clock(client)
    assert me(client, alice) == 200

    frozen = client.post(
        f"/v1/admin/users/{alice.email}/freeze", json={"reason": "fraud review"}, headers=admin.headers
    )
    assert frozen.status_code == 200, frozen.text

    after = client.get("/v1/me", headers=alice.headers)
    assert (after.status_code, after.json().get("code")) == (403, "account_frozen"), after.text


def test_money_never_leaves_an_account_frozen_elsewhere_even_while_its_session_is_believed(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    with_fake_clock(client)
    assert me(client, alice) == 200

    freeze = update(User).where(col(User.id) == uuid.UUID(alice.user_id)).values(frozen=True)
    behind_this_process(db, freeze)
    believed = me(client, alice)
    sent = api.transfer(alice, bob.email, 100)

    assert believed == 200  # within the bound the session itself is still believed
    assert (sent.status_code, sent.json()["code"]) == (403, "account_frozen")
    assert client.get("/v1/wallets/USD", headers=bob.headers).status_code == 404  # never credited


def test_a_principal_read_while_a_revocation_committed_is_not_remembered() -> None:
    cache = SessionCache(60)
    principal = _principal()
    generation = cache.generation()
    cache.forget_all()  # a revocation committed between the read and the put

    cache.put(principal, read_at=0, generation=generation)

    assert cache.get(principal.session_id, principal.user_id) is None


def test_a_cached_session_answers_only_for_its_own_user() -> None:
    clock = FakeClock()
    cache = SessionCache(60, clock)
    principal = _principal()
    cache.put(principal, read_at=clock(), generation=cache.generation())

    assert cache.get(principal.session_id, principal.user_id) == principal
    assert cache.get(principal.session_id, uuid.uuid4()) is None


def _principal() -> Principal:
    return Principal(
        user_id=uuid.UUID(int=1), session_id=uuid.UUID(int=2), email="a@example.com", role="user"
    )
