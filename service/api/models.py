"""Request bodies, named and tagged as in codersdk so that errors read as Coder's do."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from service.api.binding import AllowListTargets, GoInt, GoStruct, Tag, UUIDElements


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


class CreateUserRequestWithOrgs(GoStruct):
    """POST /users (`organization_id`, the older single form, is still read, as Coder does)."""

    go_name = "CreateUserRequestWithOrgs"
    email: Annotated[str, Tag("required,email")] = ""
    username: Annotated[str, Tag("required,username")] = ""
    name: Annotated[str, Tag("user_real_name")] = ""
    password: str = ""
    login_type: str = ""
    user_status: str | None = None
    organization_ids: Annotated[list[str], UUIDElements()] = Field(default_factory=list)
    organization_id: str | None = None


class UpdateUserProfileRequest(GoStruct):
    """PUT /users/{user}/profile."""

    go_name = "UpdateUserProfileRequest"
    username: Annotated[str, Tag("required,username")] = ""
    name: Annotated[str, Tag("user_real_name")] = ""


class UpdateUserPasswordRequest(GoStruct):
    """PUT /users/{user}/password."""

    go_name = "UpdateUserPasswordRequest"
    old_password: str = ""
    password: Annotated[str, Tag("required")] = ""


class UpdateRoles(GoStruct):
    """PUT /users/{user}/roles and /organizations/{organization}/members/{user}/roles."""

    go_name = "UpdateRoles"
    roles: list[str] = Field(default_factory=list)


class CreateOrganizationRequest(GoStruct):
    """POST /organizations."""

    go_name = "CreateOrganizationRequest"
    name: Annotated[str, Tag("required,organization_name")] = ""
    display_name: Annotated[str, Tag("omitempty,organization_display_name")] = ""
    description: str = ""
    icon: str = ""


class UpdateOrganizationRequest(GoStruct):
    """PATCH /organizations/{organization}."""

    go_name = "UpdateOrganizationRequest"
    name: Annotated[str, Tag("omitempty,organization_name")] = ""
    display_name: Annotated[str, Tag("omitempty,organization_display_name")] = ""
    description: str | None = None
    icon: str | None = None


class CreateTokenRequest(GoStruct):
    """POST /users/{user}/keys/tokens (`scope` is the legacy single form of `scopes`;
    `allow_list` entries are `<type>:<id>`)."""

    go_name = "CreateTokenRequest"
    lifetime: Annotated[int, GoInt("time.Duration")] = 0
    scope: str = ""
    scopes: list[str] = Field(default_factory=list)
    token_name: str = ""
    allow_list: Annotated[list[str], AllowListTargets()] = Field(default_factory=list)


class RegisterObjectRequest(GoStruct):
    """PUT /authz/objects/{resource_type}/{resource_id} (the ACL is checked by the registry)."""

    go_name = "RegisterObjectRequest"
    owner_id: str = ""
    organization_id: str = ""
    acl: Any = None


class RegisterObjectsRequest(GoStruct):
    """POST /authz/objects: `{"objects": [{resource_type, resource_id, owner_id, ...}]}`."""

    go_name = "RegisterObjectsRequest"
    objects: Any = None


class CreateGroupRequest(GoStruct):
    """POST /organizations/{organization}/groups."""

    go_name = "CreateGroupRequest"
    name: Annotated[str, Tag("required,group_name")] = ""
    display_name: str = ""
    avatar_url: str = ""
    quota_allowance: Annotated[int, GoInt("int")] = 0


class PatchGroupRequest(GoStruct):
    """PATCH /groups/{group}."""

    go_name = "PatchGroupRequest"
    add_users: list[str] = Field(default_factory=list)
    remove_users: list[str] = Field(default_factory=list)
    name: Annotated[str, Tag("omitempty,group_name")] = ""
    display_name: str | None = None
    avatar_url: str | None = None
    quota_allowance: Annotated[int | None, GoInt("int")] = None
