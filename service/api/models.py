"""Request bodies, named and tagged as in codersdk so that errors read as Coder's do."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from service.api.binding import GoStruct, Tag


class LoginWithPasswordRequest(GoStruct):
    """POST /users/login."""

    go_name = "LoginWithPasswordRequest"
    email: Annotated[str, Tag("required,email")] = ""
    password: Annotated[str, Tag("required")] = ""


class CreateFirstUserRequest(GoStruct):
    """POST /users/first."""

    go_name = "CreateFirstUserRequest"
    email: Annotated[str, Tag("required,email")] = ""
    username: Annotated[str, Tag("required,username")] = ""
    name: Annotated[str, Tag("user_real_name")] = ""
    password: Annotated[str, Tag("required")] = ""
    trial: bool = False


class ValidateUserPasswordRequest(GoStruct):
    """POST /users/validate-password."""

    go_name = "ValidateUserPasswordRequest"
    password: Annotated[str, Tag("required")] = ""


class RequestOneTimePasscodeRequest(GoStruct):
    """POST /users/otp/request."""

    go_name = "RequestOneTimePasscodeRequest"
    email: Annotated[str, Tag("required,email")] = ""


class ChangePasswordWithOneTimePasscodeRequest(GoStruct):
    """POST /users/otp/change-password."""

    go_name = "ChangePasswordWithOneTimePasscodeRequest"
    email: Annotated[str, Tag("required,email")] = ""
    password: Annotated[str, Tag("required")] = ""
    one_time_passcode: Annotated[str, Tag("required")] = ""


class ConvertLoginRequest(GoStruct):
    """POST /users/{user}/convert-login."""

    go_name = "ConvertLoginRequest"
    to_type: Annotated[str, Tag("required")] = ""
    password: Annotated[str, Tag("required")] = ""


class AuthorizationObject(GoStruct):
    """The object of one authcheck question."""

    go_name = "AuthorizationObject"
    resource_type: str = ""
    owner_id: str = ""
    organization_id: str = ""
    resource_id: str = ""
    any_org: bool = False


class AuthorizationCheck(GoStruct):
    """One authcheck question."""

    go_name = "AuthorizationCheck"
    object: AuthorizationObject = AuthorizationObject()
    action: str = ""


class AuthorizationRequest(GoStruct):
    """POST /authcheck."""

    go_name = "AuthorizationRequest"
    checks: dict[str, AuthorizationCheck] = Field(default_factory=dict)
