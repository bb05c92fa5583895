"""Request binding: go-playground rules and Go type errors."""

from __future__ import annotations

import pytest

from service.api.binding import bind, is_email, is_username
from service.api.models import AuthorizationRequest, ChangePasswordWithOneTimePasscodeRequest
from service.errors import ApiError


@pytest.mark.parametrize(
    "value",
    ["a@b.co", "first.last+tag@sub.example.org", "user@example.com.", "\u00e9@\u00e9x.com"],
)
def test_email_accepts(value: str) -> None:
    """Addresses go-playground accepts pass."""
    assert is_email(value)


@pytest.mark.parametrize(
    "value", ["a@b", "foo", "a@localhost", "a@b.c1", "@b.co", "a@.co", "a@b.co\n", "a b@c.co"]
)
def test_email_rejects(value: str) -> None:
    """Addresses go-playground rejects fail (no TLD, no dot, trailing newline, ...)."""
    assert not is_email(value)


def test_username_rule() -> None:
    """Coder's username rule: alnum words joined by single hyphens, 1-32 chars, not reserved."""
    assert is_username("alice") and is_username("a-b-c") and is_username("x" * 32)
    for bad in ("", "a--b", "-a", "a-", "a_b", "x" * 33, "new", "create", "a b"):
        assert not is_username(bad)


def test_first_failing_tag_per_field_in_struct_order() -> None:
    """Each field reports one failure, `required` before `email`, in field order."""
    with pytest.raises(ApiError) as info:
        bind(ChangePasswordWithOneTimePasscodeRequest, b'{"email":"bad","one_time_passcode":""}')
    assert [(v.field, v.detail) for v in info.value.validations] == [
        ("email", 'Validation failed for tag "email" with value: "bad"'),
        ("password", 'Validation failed for tag "required" with value: ""'),
        ("one_time_passcode", 'Validation failed for tag "required" with value: ""'),
    ]


def test_nested_type_error_names_the_innermost_struct() -> None:
    """A wrong type deep in authcheck names the struct and the field path, as Go does."""
    with pytest.raises(ApiError) as info:
        bind(AuthorizationRequest, b'{"checks":{"x":{"object":{"any_org":"yes"}}}}')
    assert info.value.detail == (
        "json: cannot unmarshal string into Go struct field "
        "AuthorizationObject.checks.object.any_org of type bool"
    )
    with pytest.raises(ApiError) as info:
        bind(AuthorizationRequest, b'{"checks":[]}')
    assert info.value.detail == (
        "json: cannot unmarshal array into Go struct field AuthorizationRequest.checks of type "
        "map[string]codersdk.AuthorizationCheck"
    )


def test_nulls_leave_zero_values_and_unknown_keys_are_ignored() -> None:
    """null keeps Go's zero value; unknown keys are ignored."""
    req = bind(AuthorizationRequest, b'{"checks":{"x":{"action":null,"object":null}},"extra":1}')
    assert req.checks["x"].action == ""
    assert req.checks["x"].object.resource_type == ""
