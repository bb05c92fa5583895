"""Fuzzing with schemathesis (fixed seed): our OpenAPI document and Coder's published schema.

Against a real `serve` process on loopback with a real Redis: every operation, with and without
a valid session. No 5xx, no response that violates the schema, no hang (a 10 s timeout per
call). A longer run: `AUTHSVC_FUZZ_EXAMPLES=500 pytest tests/security/test_fuzz.py`.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.openapi import document
from tests.conftest import ROOT
from tests.support import ServeProcess, start_redis

EXAMPLES = int(os.environ.get("AUTHSVC_FUZZ_EXAMPLES", "15"))
# Coder's published schema for the seven endpoints, the administration API and the API-token
# endpoints (see tests/data/README.md).
CODER_SCHEMA = ROOT / "tests" / "data" / "coder-swagger-auth.json"
# Where Coder's published schema does not describe what Coder's own server answers, the
# server is the contract: these operations are declared with the wrong response type
# (GET /users/{user}/roles returns codersdk.UserRoles, paginated-members one
# PaginatedMembersResponse object, not an array of them).
CODER_SCHEMA_ERRATA = ["get-user-roles", "paginated-organization-members"]
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _coder_schema() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(CODER_SCHEMA.read_text())
    # codersdk.User's `status` enum tag lists active and suspended, but users are created
    # dormant (UserStatusDormant; Coder's TestPostUsers/Create asserts it).
    raw["definitions"]["codersdk.User"]["properties"]["status"]["enum"].append("dormant")
    # codersdk.APIKey's deprecated `scope` is "all" or "application_connect" only when the key
    # carries coder:all or coder:application_connect; Coder's convertAPIKey leaves the zero
    # value "" for any narrower token (not in the enum tag).
    raw["definitions"]["codersdk.APIKey"]["properties"]["scope"] = {
        "type": "string",
        "enum": ["all", "application_connect", ""],
    }
    return raw


own = schemathesis.openapi.from_dict(document())
coder = schemathesis.openapi.from_dict(_coder_schema()).exclude(operation_id=CODER_SCHEMA_ERRATA)


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[str, str]]:
    """A serve process with one user and a Redis of its own (the suite's shared one is flushed
    between tests); yields (API base URL, session token)."""
    redis = start_redis()
    server: ServeProcess | None = None
    try:
        server = ServeProcess(
            {
                "AUTHSVC_REDIS_URL": redis.url,
                "AUTHSVC_SECRET_KEY": "fuzz-secret-key-0123456789",
                "AUTHSVC_DEV_MAIL_TO_LOG": "true",
                "AUTHSVC_API_RATE_LIMIT": "-1",
                "AUTHSVC_LOGIN_RATE_LIMIT": "-1",
                "AUTHSVC_LOGIN_FAILURE_LIMIT": "-1",
                "AUTHSVC_OTP_REQUEST_LIMIT": "-1",
                "AUTHSVC_ARGON2_MEMORY_COST": "256",
                "AUTHSVC_ARGON2_TIME_COST": "1",
            }
        )

        def post(path: str, body: Any) -> Any:
            req = urllib.request.Request(  # noqa: S310 - loopback
                server.url + path,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                return json.loads(resp.read())

        user = {"email": "fuzz@corp.example", "username": "fuzz", "password": "Fuzz-Secret-2026!"}
        post("/api/v2/users/first", user)
        token = post("/api/v2/users/login", {"email": user["email"], "password": user["password"]})
        yield server.url + "/api/v2", token["session_token"]
    finally:
        if server is not None:
            server.stop()
        redis.stop()


def _exercise(case: Any, base: str, token: str, checks: list[Any]) -> None:
    for headers in ({}, {"Coder-Session-Token": token}):
        response = case.call(base_url=base, headers=headers, timeout=10)
        case.validate_response(response, checks=checks)


@own.parametrize()
@FUZZ
def test_own_document(case: Any, service: tuple[str, str]) -> None:
    """Every operation of our document: no 5xx, schema-conformant, documented statuses."""
    _exercise(
        case, *service, [not_a_server_error, response_schema_conformance, status_code_conformance]
    )


@coder.parametrize()
@FUZZ
def test_coder_schema(case: Any, service: tuple[str, str]) -> None:
    """Coder's published schema for the seven endpoints and the administration API: no 5xx,
    schema-conformant bodies."""
    _exercise(case, *service, [not_a_server_error, response_schema_conformance])
