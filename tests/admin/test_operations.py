"""Operators: cash in and out, freezes, reversals, all recorded in the audit log."""

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.identity import service as identity_service
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import Role
from tests.support.api import DEFAULT_PASSWORD, Account, Api


def post(client: TestClient, admin: Account, path: str, body: dict, key: str | None = None):  # noqa: ANN201
    headers = {**admin.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(path, json=body, headers=headers)


def audit_log(client: TestClient, admin: Account) -> list[dict]:
    return client.get("/v1/admin/audit-log", headers=admin.headers).json()["items"]


def second_operator(api: Api, db: Database, settings: Settings) -> Account:
    email = "second-operator@example.com"
    db.run(
        lambda s: identity_service.create_user(
            s, settings, email, "Second Operator", DEFAULT_PASSWORD, role=Role.ADMIN
        )
    )
    return api.login(email)


def test_deposit_opens_the_wallet_and_comes_from_the_outside_world(
    client: TestClient, admin: Account, alice: Account, api: Api
) -> None:
    body = {"user": alice.email, "amount": 1_000_000, "currency": "VND", "reason": "cash at branch"}
    response = post(client, admin, "/v1/admin/deposits", body, key="dep-1")
    assert response.status_code == 201, response.text
    assert (response.json()["kind"], response.json()["sender"]["system"]) == ("deposit", True)
    assert api.balance(alice, "VND") == 1_000_000


def test_withdrawal_pays_out_and_refuses_more_than_the_balance(
    client: TestClient, admin: Account, alice: Account, api: Api
) -> None:
    api.deposit(admin, alice.email, 3_000)
    body = {"user": alice.user_id, "amount": 1_000, "currency": "USD", "reason": "ATM"}
    assert post(client, admin, "/v1/admin/withdrawals", body, key="wd-1").status_code == 201
    too_much = post(client, admin, "/v1/admin/withdrawals", {**body, "amount": 2_001}, key="wd-2")
    assert (too_much.status_code, too_much.json()["code"]) == (409, "insufficient_funds")
    assert api.balance(alice) == 2_000


def test_deposit_for_an_unknown_user_is_not_found(client: TestClient, admin: Account) -> None:
    body = {"user": "ghost@example.com", "amount": 1, "currency": "USD", "reason": "x"}
    response = post(client, admin, "/v1/admin/deposits", body, key="ghost")
    assert (response.status_code, response.json()["code"]) == (404, "user_not_found")


def test_frozen_user_cannot_log_in_until_unfrozen(
    client: TestClient, admin: Account, alice: Account, api: Api
) -> None:
    frozen = post(client, admin, f"/v1/admin/users/{alice.email}/freeze", {"reason": "chargeback"})
    assert frozen.json()["frozen"] is True
    refused = client.post("/v1/auth/login", json={"email": alice.email, "password": alice.password})
    assert (refused.status_code, refused.json()["code"]) == (403, "account_frozen")
    assert client.get("/v1/me", headers=alice.headers).status_code == 403
    post(client, admin, f"/v1/admin/users/{alice.email}/unfreeze", {"reason": "resolved"})
    assert api.login(alice.email).access_token


def test_frozen_wallet_neither_sends_nor_receives_until_unfrozen(
    client: TestClient, admin: Account, alice: Account, bob: Account, api: Api
) -> None:
    api.deposit(admin, alice.email, 1_000)
    api.deposit(admin, bob.email, 1_000)
    post(client, admin, f"/v1/admin/users/{bob.email}/wallets/USD/freeze", {"reason": "review"})
    assert api.transfer(alice, bob.email, 10).json()["code"] == "wallet_frozen"
    assert api.transfer(bob, alice.email, 10).json()["code"] == "wallet_frozen"
    post(client, admin, f"/v1/admin/users/{bob.email}/wallets/USD/unfreeze", {"reason": "cleared"})
    assert api.transfer(bob, alice.email, 10).status_code == 201


def test_reversal_is_a_compensating_transfer_and_history_is_kept(
    client: TestClient, admin: Account, alice: Account, bob: Account, api: Api
) -> None:
    api.deposit(admin, alice.email, 1_000)
    original = api.transfer(alice, bob.email, 400).json()["id"]
    response = post(
        client, admin, f"/v1/admin/transfers/{original}/reverse", {"reason": "mistake"}, key="rev-1"
    )
    assert response.status_code == 201, response.text
    reversal = response.json()
    assert (reversal["kind"], reversal["reverses_transfer_id"], reversal["amount"]) == (
        "reversal",
        original,
        400,
    )
    assert (reversal["sender"]["email"], reversal["recipient"]["email"]) == (bob.email, alice.email)
    assert (api.balance(alice), api.balance(bob)) == (1_000, 0)
    ids = [i["id"] for i in client.get("/v1/transfers", headers=alice.headers).json()["items"]]
    assert ids[:2] == [reversal["id"], original]


def test_a_transfer_is_reversed_at_most_once(
    client: TestClient, admin: Account, alice: Account, bob: Account, api: Api
) -> None:
    api.deposit(admin, alice.email, 1_000)
    original = api.transfer(alice, bob.email, 400).json()["id"]
    first = post(client, admin, f"/v1/admin/transfers/{original}/reverse", {"reason": "mistake"}, key="r1")
    again = post(client, admin, f"/v1/admin/transfers/{original}/reverse", {"reason": "mistake"}, key="r2")
    assert (again.status_code, again.json()["code"]) == (409, "already_reversed")
    undo_undo = post(
        client, admin, f"/v1/admin/transfers/{first.json()['id']}/reverse", {"reason": "x"}, key="r3"
    )
    assert (undo_undo.status_code, undo_undo.json()["code"]) == (409, "not_reversible")
    assert (api.balance(alice), api.balance(bob)) == (1_000, 0)


def test_reversal_needs_the_money_to_still_be_there(
    client: TestClient, admin: Account, alice: Account, bob: Account, api: Api
) -> None:
    api.deposit(admin, alice.email, 1_000)
    original = api.transfer(alice, bob.email, 400).json()["id"]
    api.transfer(bob, alice.email, 300)
    response = post(client, admin, f"/v1/admin/transfers/{original}/reverse", {"reason": "late"}, key="r")
    assert (response.status_code, response.json()["code"]) == (409, "insufficient_funds")


def test_every_admin_action_is_in_the_audit_log_with_who_what_and_why(
    client: TestClient, admin: Account, alice: Account, bob: Account, api: Api
) -> None:
    post(
        client,
        admin,
        "/v1/admin/deposits",
        {"user": alice.email, "amount": 500, "currency": "USD", "reason": "r-dep"},
        key="a",
    )
    transfer_id = api.transfer(alice, bob.email, 100).json()["id"]
    post(client, admin, f"/v1/admin/transfers/{transfer_id}/reverse", {"reason": "r-rev"}, key="b")
    post(
        client,
        admin,
        "/v1/admin/withdrawals",
        {"user": alice.email, "amount": 200, "currency": "USD", "reason": "r-wd"},
        key="c",
    )
    post(client, admin, f"/v1/admin/users/{bob.email}/wallets/USD/freeze", {"reason": "r-fw"})
    post(client, admin, f"/v1/admin/users/{bob.email}/freeze", {"reason": "r-fu"})
    post(client, admin, f"/v1/admin/users/{bob.email}/unfreeze", {"reason": "r-uu"})
    entries = audit_log(client, admin)
    assert [(e["action"], e["reason"]) for e in entries] == [
        ("unfreeze_user", "r-uu"),
        ("freeze_user", "r-fu"),
        ("freeze_wallet", "r-fw"),
        ("withdrawal", "r-wd"),
        ("reverse", "r-rev"),
        ("deposit", "r-dep"),
    ]
    assert {e["actor_email"] for e in entries} == {admin.email}
    assert entries[-1]["target"] == f"user:{alice.user_id}"
    assert entries[-1]["details"] == {"amount": 500, "currency": "USD", "email": alice.email}


def test_refused_admin_actions_leave_no_audit_entry(
    client: TestClient, admin: Account, alice: Account
) -> None:
    body = {"user": alice.email, "amount": 5, "currency": "USD", "reason": "too much"}
    post(client, admin, "/v1/admin/withdrawals", body, key=str(uuid.uuid4()))
    assert audit_log(client, admin) == []


def test_user_search_finds_by_email_or_name_with_wallets(
    client: TestClient, admin: Account, alice: Account, bob: Account, api: Api
) -> None:
    api.deposit(admin, alice.email, 700, "EUR")
    found = client.get("/v1/admin/users", params={"q": "LIDDELL"}, headers=admin.headers).json()["items"]
    assert [(u["email"], [(w["currency"], w["balance"]) for w in u["wallets"]]) for u in found] == [
        (alice.email, [("EUR", 700)])
    ]
    everyone = client.get("/v1/admin/users", headers=admin.headers).json()["items"]
    assert {u["email"] for u in everyone} == {admin.email, alice.email, bob.email}


def test_reversal_into_a_closed_wallet_is_refused(
    client: TestClient, admin: Account, alice: Account, bob: Account, api: Api
) -> None:
    api.deposit(admin, alice.email, 400)
    original = api.transfer(alice, bob.email, 400).json()["id"]
    assert client.delete("/v1/wallets/USD", headers=alice.headers).status_code == 200
    response = post(client, admin, f"/v1/admin/transfers/{original}/reverse", {"reason": "late"}, key="r")
    assert (response.status_code, response.json()["code"]) == (409, "not_reversible")
    assert api.balance(bob) == 400


def outbox_payloads(db: Database) -> str:
    with db.engine.connect() as connection:
        return "\n".join(connection.execute(text("SELECT payload FROM outbox")).scalars())


def test_the_operators_reason_stays_in_the_audit_log_and_the_customer_sees_only_the_memo(
    client: TestClient, db: Database, admin: Account, alice: Account, bob: Account, api: Api
) -> None:
    deposit = post(
        client,
        admin,
        "/v1/admin/deposits",
        {"user": alice.email, "amount": 900, "currency": "USD", "reason": "KYC case 4411, flagged"},
        key="dep",
    )
    withdrawal = post(
        client,
        admin,
        "/v1/admin/withdrawals",
        {"user": alice.email, "amount": 100, "currency": "USD", "reason": "court order 17", "memo": "Payout"},
        key="wd",
    )
    original = api.transfer(alice, bob.email, 300).json()["id"]
    reversal = post(
        client,
        admin,
        f"/v1/admin/transfers/{original}/reverse",
        {"reason": "fraud ring suspected", "memo": "Transfer reversed"},
        key="rev",
    )

    assert [r.status_code for r in (deposit, withdrawal, reversal)] == [201, 201, 201]
    assert [r.json()["memo"] for r in (deposit, withdrawal, reversal)] == [
        None,
        "Payout",
        "Transfer reversed",
    ]
    history = client.get("/v1/transfers", headers=alice.headers).json()["items"]
    assert [(t["kind"], t["memo"]) for t in history] == [
        ("reversal", "Transfer reversed"),
        ("transfer", None),
        ("withdrawal", "Payout"),
        ("deposit", None),
    ]
    payloads = outbox_payloads(db)
    for reason in ("KYC case 4411", "court order 17", "fraud ring suspected"):
        assert reason not in payloads
    assert [(e["action"], e["reason"]) for e in audit_log(client, admin)] == [
        ("reverse", "fraud ring suspected"),
        ("withdrawal", "court order 17"),
        ("deposit", "KYC case 4411, flagged"),
    ]


def test_the_reason_for_a_freeze_reaches_the_audit_log_and_no_event_the_customer_sees(
    client: TestClient, db: Database, admin: Account, alice: Account, api: Api
) -> None:
    api.deposit(admin, alice.email, 100)
    reason = "INTERNAL: suspected fraud ring 42"
    for action in ("freeze", "unfreeze"):
        answer = client.post(
            f"/v1/admin/users/{alice.email}/{action}", json={"reason": reason}, headers=admin.headers
        )
        assert answer.status_code == 200, answer.text
    for action in ("freeze", "unfreeze"):
        answer = client.post(
            f"/v1/admin/users/{alice.email}/wallets/USD/{action}",
            json={"reason": reason},
            headers=admin.headers,
        )
        assert answer.status_code == 200, answer.text

    assert reason not in outbox_payloads(db)
    assert [(e["action"], e["reason"]) for e in audit_log(client, admin)][:4] == [
        ("unfreeze_wallet", reason),
        ("freeze_wallet", reason),
        ("unfreeze_user", reason),
        ("freeze_user", reason),
    ]


def test_a_memo_longer_than_a_transfer_memo_is_refused(
    client: TestClient, admin: Account, alice: Account
) -> None:
    body = {"user": alice.email, "amount": 1, "currency": "USD", "reason": "r", "memo": "m" * 281}
    response = post(client, admin, "/v1/admin/deposits", body, key="long")
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


def test_an_operator_cannot_deposit_into_or_withdraw_from_their_own_account(
    client: TestClient, db: Database, settings: Settings, api: Api, admin: Account
) -> None:
    second = second_operator(api, db, settings)
    api.deposit(second, admin.email, 1_000)
    for path in ("/v1/admin/deposits", "/v1/admin/withdrawals"):
        for user in (admin.email, admin.user_id):
            body = {"user": user, "amount": 100, "currency": "USD", "reason": "for me"}
            response = post(client, admin, path, body, key=str(uuid.uuid4()))
            assert (response.status_code, response.json()["code"]) == (403, "operator_own_account"), path
    assert api.balance(admin) == 1_000
    assert [e["action"] for e in audit_log(client, admin)] == ["deposit"]


def test_an_operator_cannot_reverse_a_transfer_to_or_from_their_own_account(
    client: TestClient, db: Database, settings: Settings, api: Api, admin: Account, alice: Account
) -> None:
    second = second_operator(api, db, settings)
    api.deposit(second, admin.email, 1_000)
    api.deposit(second, alice.email, 1_000)
    sent = api.transfer(admin, alice.email, 400).json()["id"]
    received = api.transfer(alice, admin.email, 250).json()["id"]

    for transfer_id in (sent, received):
        response = post(
            client, admin, f"/v1/admin/transfers/{transfer_id}/reverse", {"reason": "oops"}, key=transfer_id
        )
        assert (response.status_code, response.json()["code"]) == (403, "operator_own_account")
    assert (api.balance(admin), api.balance(alice)) == (850, 1_150)
    by_another = post(client, second, f"/v1/admin/transfers/{sent}/reverse", {"reason": "oops"}, key="second")
    assert by_another.status_code == 201, by_another.text
    assert (api.balance(admin), api.balance(alice)) == (1_250, 750)
