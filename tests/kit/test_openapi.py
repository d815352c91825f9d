"""/openapi.json documents the errors the daemon really sends: problem+json, never FastAPI's
HTTPValidationError, with the stable codes of each status, and Idempotency-Key required."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gopherpayd.app import create_app
from gopherpayd.kit.errors import PROBLEM_CONTENT_TYPE
from gopherpayd.kit.openapi import error_classes
from tests.conftest import make_settings

OWN_ERROR_BODIES = {
    ("/v1/transfers/batch", "409"),  # an atomic batch refused answers its BatchResult
    ("/readyz", "503"),  # {"status": "unavailable", "database": "unreachable"}
}
MONEY_OPERATIONS = [
    ("post", "/v1/transfers"),
    ("post", "/v1/admin/deposits"),
    ("post", "/v1/admin/withdrawals"),
    ("post", "/v1/admin/transfers/{transfer_id}/reverse"),
]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(make_settings(f"sqlite:///{data_dir / 'unused.db'}", data_dir))
    return app.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_no_operation_mentions_fastapis_validation_error_shape(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert "ValidationError" not in document["components"]["schemas"]
    assert set(document["components"]["schemas"]["Problem"]["required"]) == {
        "type", "title", "status", "detail", "code",
    }  # fmt: skip


def test_every_error_response_is_a_problem_document_with_its_codes(document: dict[str, Any]) -> None:
    known = {cls.code for _, cls in error_classes()} | {"validation_error", "internal_error", "not_found"}
    for method, path, operation in operations(document):
        errors = {status: answer for status, answer in operation["responses"].items() if int(status) >= 400}
        assert "500" in errors, (method, path)
        for status, answer in errors.items():
            if (path, status) in OWN_ERROR_BODIES:
                continue  # documented with a body of its own
            assert list(answer["content"]) == [PROBLEM_CONTENT_TYPE], (method, path, status)
            assert answer["content"][PROBLEM_CONTENT_TYPE]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }
            codes = answer.get("x-problem-codes", [])
            assert set(codes) <= known | {"request_timeout", "method_not_allowed", "payload_too_large"}
            assert codes, (method, path, status)


def test_a_transfer_documents_its_refusals_and_not_other_packages_codes(document: dict[str, Any]) -> None:
    responses = document["paths"]["/v1/transfers"]["post"]["responses"]
    assert "insufficient_funds" in responses["409"]["x-problem-codes"]
    assert "idempotency_key_reused" in responses["409"]["x-problem-codes"]
    assert "recipient_not_found" in responses["404"]["x-problem-codes"]
    assert "invalid_amount" in responses["400"]["x-problem-codes"]
    assert "token_expired" in responses["401"]["x-problem-codes"]
    # Sign-up's and email verification's refusals are not a transfer's.
    assert "email_taken" not in responses["409"]["x-problem-codes"]
    assert "invalid_verification_code" not in responses["400"]["x-problem-codes"]
    signup = document["paths"]["/v1/auth/signup"]["post"]["responses"]
    assert "email_taken" in signup["409"]["x-problem-codes"]
    assert "too_many_attempts" in signup["429"]["x-problem-codes"]


@pytest.mark.parametrize(("method", "path"), MONEY_OPERATIONS)
def test_idempotency_key_is_required_where_the_server_requires_it(
    document: dict[str, Any], method: str, path: str
) -> None:
    (header,) = [
        parameter
        for parameter in document["paths"][path][method]["parameters"]
        if parameter["name"] == "Idempotency-Key"
    ]
    assert (header["in"], header["required"], header["schema"]["type"]) == ("header", True, "string")


def test_reads_take_no_idempotency_key(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        names = [parameter["name"] for parameter in operation.get("parameters", [])]
        if "Idempotency-Key" in names:
            assert method == "post", path


def test_readiness_documents_its_own_503_body(document: dict[str, Any]) -> None:
    unavailable = document["paths"]["/readyz"]["get"]["responses"]["503"]
    schema = unavailable["content"]["application/json"]["schema"]
    assert schema["properties"] == {"status": {"const": "unavailable"}, "database": {"const": "unreachable"}}
