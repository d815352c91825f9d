"""Sessions and API tokens page like every list: newest first by (created_at, id), an opaque
cursor, a bounded limit."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from gopherpayd.identity.models import ApiToken, AuthSession
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.kit.pagination import CodeCursor
from tests.support.api import Account, Api
from tests.support.pages import assert_cursor_refused, assert_limit_refused, pages

LISTS = ["/v1/sessions", "/v1/tokens"]


def log_in_again(api: Api, account: Account, times: int) -> None:
    for _ in range(times):
        api.login(account.email)


def make_tokens(client: TestClient, owner: Account, count: int) -> None:
    for number in range(count):
        body = {"name": f"ci-{number}", "scope": "read"}
        response = client.post("/v1/tokens", json=body, headers=owner.headers)
        assert response.status_code == 201, response.text


def test_sessions_page_newest_first_and_cover_each_session_once(
    client: TestClient, api: Api, alice: Account, bob: Account
) -> None:
    log_in_again(api, alice, 4)
    everything = client.get("/v1/sessions", headers=alice.headers).json()["items"]

    paged = pages(client, "/v1/sessions", alice.headers, limit=2)

    assert [len(page) for page in paged] == [2, 2, 1]
    assert [s["id"] for page in paged for s in page] == [s["id"] for s in everything]
    assert len({s["id"] for s in everything}) == 5
    assert [s["current"] for page in paged for s in page].count(True) == 1
    created = [s["created_at"] for page in paged for s in page]
    assert created == sorted(created, reverse=True)


def test_tokens_page_newest_first_and_cover_each_token_once(client: TestClient, alice: Account) -> None:
    make_tokens(client, alice, 5)
    everything = client.get("/v1/tokens", headers=alice.headers).json()["items"]

    paged = pages(client, "/v1/tokens", alice.headers, limit=2)

    assert [len(page) for page in paged] == [2, 2, 1]
    assert [t["id"] for page in paged for t in page] == [t["id"] for t in everything]
    assert sorted(t["name"] for t in everything) == [f"ci-{n}" for n in range(5)]
    created = [t["created_at"] for page in paged for t in page]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(("model", "path"), [(AuthSession, "/v1/sessions"), (ApiToken, "/v1/tokens")])
def test_rows_made_at_the_same_instant_page_by_id(
    client: TestClient,
    api: Api,
    db: Database,
    alice: Account,
    model: type[AuthSession] | type[ApiToken],
    path: str,
) -> None:
    log_in_again(api, alice, 4)
    make_tokens(client, alice, 5)
    at = utcnow() - timedelta(minutes=1)

    def same_instant(session: Session) -> None:
        session.execute(
            update(model).where(col(model.user_id) == uuid.UUID(alice.user_id)).values(created_at=at)
        )

    db.run(same_instant)

    paged = pages(client, path, alice.headers, limit=2)

    ids = [row["id"] for page in paged for row in page]
    assert [len(page) for page in paged] == [2, 2, 1]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 5


@pytest.mark.parametrize("path", LISTS)
def test_a_whole_list_fits_one_page_without_a_next_cursor(
    client: TestClient, alice: Account, path: str
) -> None:
    response = client.get(path, headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    # W10: [], bnVsbA: null
    "cursor",
    ["not-a-cursor", "x", CodeCursor("USD").encode(), "W10", "bnVsbA"],
)
def test_a_cursor_the_server_did_not_issue_is_refused(
    client: TestClient, alice: Account, path: str, cursor: str
) -> None:
    assert_cursor_refused(client, path, alice.headers, cursor)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("limit", [0, -1, 201])
def test_a_limit_outside_1_to_200_is_refused(
    client: TestClient, alice: Account, path: str, limit: int
) -> None:
    assert_limit_refused(client, path, alice.headers, limit)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("limit", [1, 200])
def test_limits_of_1_and_200_are_served(client: TestClient, alice: Account, path: str, limit: int) -> None:
    response = client.get(path, params={"limit": limit}, headers=alice.headers)

    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) <= limit
