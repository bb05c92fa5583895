"""GET /api/v2/openapi.json: the service's own OpenAPI 3.1 document.

Request bodies come from the pydantic models the handlers bind (service/api/models.py);
responses from the models below. Every operation lists the errors it can answer with, each as
Coder's envelope.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, RootModel

from service.api import models
from service.api.responses import json_response


class ValidationEntry(BaseModel):
    """One `validations` entry."""

    field: str
    detail: str


class ErrorResponse(BaseModel):
    """Coder's error envelope (codersdk.Response)."""

    message: str
    detail: str | None = None
    validations: list[ValidationEntry] | None = None


class LoginWithPasswordResponse(BaseModel):
    session_token: str = Field(pattern=r"^[0-9A-Za-z]{10}-[0-9A-Za-z]{22}$")


class ValidateUserPasswordResponse(BaseModel):
    valid: bool
    details: str


class ExternalAPIKeyScopes(BaseModel):
    external: list[str]


class OAuthConversionResponse(BaseModel):
    state_string: str = Field(pattern=r"^convert-[0-9A-Za-z]{32}$")
    expires_at: str
    to_type: str
    user_id: str


class CreateFirstUserResponse(BaseModel):
    user_id: str
    organization_id: str


class Role(BaseModel):
    """codersdk.SlimRole."""

    name: str
    display_name: str
    organization_id: str | None = None


class User(BaseModel):
    id: str
    username: str
    avatar_url: str
    name: str
    email: str
    created_at: str
    updated_at: str
    last_seen_at: str
    status: str
    login_type: str
    theme_preference: str
    organization_ids: list[str]
    roles: list[Role]


class GetUsersResponse(BaseModel):
    users: list[User]
    count: int


class UserRoles(BaseModel):
    roles: list[str]
    organization_roles: dict[str, list[str]]


class Organization(BaseModel):
    id: str
    name: str
    display_name: str
    description: str
    icon: str
    created_at: str
    updated_at: str
    is_default: bool


class Organizations(RootModel[list[Organization]]):
    pass


class OrganizationMember(BaseModel):
    user_id: str
    organization_id: str
    created_at: str
    updated_at: str
    roles: list[Role]


class OrganizationMemberWithUserData(OrganizationMember):
    username: str
    name: str
    avatar_url: str
    email: str
    global_roles: list[Role]


class OrganizationMembers(RootModel[list[OrganizationMemberWithUserData]]):
    pass


class PaginatedMembersResponse(BaseModel):
    members: list[OrganizationMemberWithUserData]
    count: int


class Permission(BaseModel):
    negate: bool
    resource_type: str
    action: str


class AssignableRole(BaseModel):
    """codersdk.AssignableRoles."""

    name: str
    organization_id: str | None = None
    display_name: str
    site_permissions: list[Permission]
    organization_permissions: list[Permission]
    user_permissions: list[Permission]
    assignable: bool
    built_in: bool


class AssignableRoles(RootModel[list[AssignableRole]]):
    pass


class APIAllowListTarget(BaseModel):
    type: str
    id: str


class APIKey(BaseModel):
    """codersdk.APIKey (never the secret)."""

    id: str = Field(pattern=r"^[0-9A-Za-z]{10}$")
    user_id: str
    last_used: str
    expires_at: str
    created_at: str
    updated_at: str
    login_type: str
    scope: str
    scopes: list[str]
    token_name: str
    lifetime_seconds: int
    allow_list: list[APIAllowListTarget]


class APIKeyWithOwner(APIKey):
    username: str


class APIKeysWithOwner(RootModel[list[APIKeyWithOwner]]):
    pass


class GenerateAPIKeyResponse(BaseModel):
    key: str = Field(pattern=r"^[0-9A-Za-z]{10}-[0-9A-Za-z]{22}$")


class TokenConfig(BaseModel):
    max_token_lifetime: int


class RegisteredObject(BaseModel):
    """A registered object (this service's registry; not a Coder type)."""

    resource_type: str
    resource_id: str
    owner_id: str
    organization_id: str
    acl: dict[str, dict[str, list[str] | str]]


class RegisteredObjects(BaseModel):
    objects: list[RegisteredObject]


class ReducedUser(BaseModel):
    id: str
    username: str
    avatar_url: str
    name: str
    email: str
    created_at: str
    updated_at: str
    last_seen_at: str
    status: str
    login_type: str
    theme_preference: str


class Group(BaseModel):
    """codersdk.Group."""

    id: str
    name: str
    display_name: str
    organization_id: str
    members: list[ReducedUser]
    total_member_count: int
    avatar_url: str
    quota_allowance: int
    source: str
    organization_name: str
    organization_display_name: str


class Groups(RootModel[list[Group]]):
    pass


class AuthorizationResponse(BaseModel):
    model_config = {"json_schema_extra": {"additionalProperties": {"type": "boolean"}}}


_ERRORS = {
    "400": "Bad request: invalid JSON or failed validation",
    "401": "Not signed in, or the credentials are wrong",
    "403": "Forbidden; also a browser request from another origin (cross-origin guard)",
    "404": "Not found",
    "408": "The request body did not arrive in time",
    "409": "Conflict",
    "413": "Request body too large",
    "429": "Rate limited",
    "500": "Internal error",
    "503": "The state store is unavailable",
}

# path, method, request model, success status, response model (None: no body), errors, auth
_OPERATIONS: list[
    tuple[str, str, type[BaseModel] | None, str, type[BaseModel] | None, str, bool]
] = [
    ("/auth/scopes", "get", None, "200", ExternalAPIKeyScopes, "429 503", False),
    (
        "/authcheck",
        "post",
        models.AuthorizationRequest,
        "200",
        AuthorizationResponse,
        "400 401 413 429 500 503",
        True,
    ),
    (
        "/users/login",
        "post",
        models.LoginWithPasswordRequest,
        "201",
        LoginWithPasswordResponse,
        "400 401 403 413 429 500 503",
        False,
    ),
    ("/users/logout", "post", None, "200", ErrorResponse, "401 429 503", True),
    ("/users/me", "get", None, "200", User, "401 429 503", True),
    ("/users/first", "get", None, "200", ErrorResponse, "404 429 503", False),
    (
        "/users/first",
        "post",
        models.CreateFirstUserRequest,
        "201",
        CreateFirstUserResponse,
        "400 409 413 429 500 503",
        False,
    ),
    (
        "/users/otp/request",
        "post",
        models.RequestOneTimePasscodeRequest,
        "204",
        None,
        "400 403 413 429 503",
        False,
    ),
    (
        "/users/otp/change-password",
        "post",
        models.ChangePasswordWithOneTimePasscodeRequest,
        "204",
        None,
        "400 403 413 429 500 503",
        False,
    ),
    (
        "/users/validate-password",
        "post",
        models.ValidateUserPasswordRequest,
        "200",
        ValidateUserPasswordResponse,
        "400 401 413 429 503",
        True,
    ),
    (
        "/users/{user}/convert-login",
        "post",
        models.ConvertLoginRequest,
        "201",
        OAuthConversionResponse,
        "400 401 403 413 429 500 503",
        True,
    ),
    # Object registry and groups (api/objects.py).
    (
        "/authz/objects/{resource_type}/{resource_id}",
        "put",
        models.RegisterObjectRequest,
        "200",
        RegisteredObject,
        "201 400 401 403 413 429 503",
        True,
    ),
    (
        "/authz/objects/{resource_type}/{resource_id}",
        "get",
        None,
        "200",
        RegisteredObject,
        "400 401 404 429 503",
        True,
    ),
    (
        "/authz/objects/{resource_type}/{resource_id}",
        "delete",
        None,
        "204",
        None,
        "400 401 403 404 429 503",
        True,
    ),
    (
        "/authz/objects",
        "post",
        models.RegisterObjectsRequest,
        "200",
        RegisteredObjects,
        "400 401 403 413 429 503",
        True,
    ),
    (
        "/organizations/{organization}/groups",
        "post",
        models.CreateGroupRequest,
        "201",
        Group,
        "400 401 403 404 409 413 429 503",
        True,
    ),
    ("/organizations/{organization}/groups", "get", None, "200", Groups, "401 404 429 503", True),
    ("/groups/{group}", "get", None, "200", Group, "400 401 404 429 503", True),
    (
        "/groups/{group}",
        "patch",
        models.PatchGroupRequest,
        "200",
        Group,
        "400 401 403 404 409 413 429 503",
        True,
    ),
    ("/groups/{group}", "delete", None, "200", ErrorResponse, "400 401 404 429 503", True),
    # API tokens (api/tokens.py).
    (
        "/users/{user}/keys/tokens",
        "post",
        models.CreateTokenRequest,
        "201",
        GenerateAPIKeyResponse,
        "400 401 403 409 413 429 503",
        True,
    ),
    ("/users/{user}/keys/tokens", "get", None, "200", APIKeysWithOwner, "400 401 429 503", True),
    (
        "/users/{user}/keys/tokens/tokenconfig",
        "get",
        None,
        "200",
        TokenConfig,
        "400 401 429 503",
        True,
    ),
    (
        "/users/{user}/keys/tokens/{keyname}",
        "get",
        None,
        "200",
        APIKey,
        "400 401 404 429 503",
        True,
    ),
    ("/users/{user}/keys/{keyid}", "get", None, "200", APIKey, "400 401 404 429 503", True),
    ("/users/{user}/keys/{keyid}", "delete", None, "204", None, "400 401 404 429 503", True),
    (
        "/users/{user}/keys",
        "post",
        None,
        "201",
        GenerateAPIKeyResponse,
        "400 401 403 429 503",
        True,
    ),
    # Administration (api/admin.py).
    ("/users", "get", None, "200", GetUsersResponse, "400 401 429 503", True),
    (
        "/users",
        "post",
        models.CreateUserRequestWithOrgs,
        "201",
        User,
        "400 401 403 404 409 413 429 503",
        True,
    ),
    ("/users/roles", "get", None, "200", AssignableRoles, "401 403 429 503", True),
    ("/users/{user}", "get", None, "200", User, "400 401 429 503", True),
    ("/users/{user}", "delete", None, "200", ErrorResponse, "400 401 403 404 409 429 503", True),
    (
        "/users/{user}/profile",
        "put",
        models.UpdateUserProfileRequest,
        "200",
        User,
        "400 401 403 404 409 413 429 503",
        True,
    ),
    ("/users/{user}/status/suspend", "put", None, "200", User, "400 401 403 429 503", True),
    ("/users/{user}/status/activate", "put", None, "200", User, "400 401 403 429 503", True),
    (
        "/users/{user}/password",
        "put",
        models.UpdateUserPasswordRequest,
        "204",
        None,
        "400 401 404 413 429 503",
        True,
    ),
    ("/users/{user}/roles", "get", None, "200", UserRoles, "400 401 404 429 503", True),
    (
        "/users/{user}/roles",
        "put",
        models.UpdateRoles,
        "200",
        User,
        "400 401 403 404 413 429 503",
        True,
    ),
    ("/users/{user}/organizations", "get", None, "200", Organizations, "400 401 429 503", True),
    (
        "/users/{user}/organizations/{organizationname}",
        "get",
        None,
        "200",
        Organization,
        "400 401 404 429 503",
        True,
    ),
    ("/organizations", "get", None, "200", Organizations, "401 429 503", True),
    (
        "/organizations",
        "post",
        models.CreateOrganizationRequest,
        "201",
        Organization,
        "400 401 403 409 413 429 503",
        True,
    ),
    (
        "/organizations/{organization}",
        "get",
        None,
        "200",
        Organization,
        "400 401 404 429 503",
        True,
    ),
    (
        "/organizations/{organization}",
        "patch",
        models.UpdateOrganizationRequest,
        "200",
        Organization,
        "400 401 404 409 413 429 503",
        True,
    ),
    (
        "/organizations/{organization}",
        "delete",
        None,
        "200",
        ErrorResponse,
        "400 401 404 429 503",
        True,
    ),
    (
        "/organizations/{organization}/members",
        "get",
        None,
        "200",
        OrganizationMembers,
        "400 401 404 429 503",
        True,
    ),
    (
        "/organizations/{organization}/paginated-members",
        "get",
        None,
        "200",
        PaginatedMembersResponse,
        "400 401 404 429 503",
        True,
    ),
    (
        "/organizations/{organization}/members/roles",
        "get",
        None,
        "200",
        AssignableRoles,
        "400 401 404 429 503",
        True,
    ),
    (
        "/organizations/{organization}/members/{user}",
        "get",
        None,
        "200",
        OrganizationMemberWithUserData,
        "400 401 404 429 503",
        True,
    ),
    (
        "/organizations/{organization}/members/{user}",
        "post",
        None,
        "200",
        OrganizationMember,
        "400 401 404 429 503",
        True,
    ),
    (
        "/organizations/{organization}/members/{user}",
        "delete",
        None,
        "204",
        None,
        "400 401 404 429 503",
        True,
    ),
    (
        "/organizations/{organization}/members/{user}/roles",
        "put",
        models.UpdateRoles,
        "200",
        OrganizationMember,
        "400 401 403 404 413 429 503",
        True,
    ),
]


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once)."""
    components: dict[str, Any] = {}
    error_ref = _schema(ErrorResponse, components)
    paths: dict[str, Any] = {}
    for path, method, request, status, response, errors, auth in _OPERATIONS:
        operation: dict[str, Any] = {"responses": {}}
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(request, components)}},
            }
        ok: dict[str, Any] = {"description": "Success"}
        if response is not None:
            ok["content"] = {"application/json": {"schema": _schema(response, components)}}
        operation["responses"][status] = ok
        codes = set(errors.split())
        if method != "get":  # every unsafe request passes the cross-origin guard and body timer
            codes |= {"403", "408"}
        for code in sorted(codes):
            if code not in _ERRORS:  # a second success status (PUT: 200 replaced, 201 created)
                operation["responses"][code] = ok
                continue
            operation["responses"][code] = {
                "description": _ERRORS[code],
                "content": {"application/json": {"schema": error_ref}},
            }
        if auth:
            operation["security"] = [{"CoderSessionToken": []}]
        if names := re.findall(r"\{(\w+)\}", path):
            operation["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in names
            ]
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "authsvc",
            "version": "0.1.0",
            "description": "Coder's /api/v2 authentication and authorization API.",
        },
        "servers": [{"url": "/api/v2"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "CoderSessionToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Coder-Session-Token",
                }
            },
        },
    }


async def openapi(request: web.Request) -> web.StreamResponse:
    """GET /api/v2/openapi.json."""
    return json_response(200, document())
