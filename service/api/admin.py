"""Handlers of Coder's user and organization administration API (thin: auth/admin.py decides).

Users: GET/POST /users, GET/DELETE /users/{user}, PUT /users/{user}/profile,
PUT /users/{user}/status/{suspend,activate}, PUT /users/{user}/password,
GET/PUT /users/{user}/roles, GET /users/{user}/organizations, GET /users/roles.
Organizations: GET/POST /organizations, GET/PATCH/DELETE /organizations/{organization},
GET /organizations/{organization}/members (and /paginated-members),
POST/DELETE /organizations/{organization}/members/{user},
PUT /organizations/{organization}/members/{user}/roles,
GET /organizations/{organization}/members/roles.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from service import keys
from service.api.binding import bind_body
from service.api.models import (
    CreateOrganizationRequest,
    CreateUserRequestWithOrgs,
    UpdateOrganizationRequest,
    UpdateRoles,
    UpdateUserPasswordRequest,
    UpdateUserProfileRequest,
)
from service.api.responses import json_response
from service.auth.admin import (
    Administration,
    CreateUser,
    Operator,
    member_api,
    member_obj,
    member_with_user_api,
)
from service.auth.userquery import parse_page, parse_user_query
from service.auth.users import Organization, User
from service.authz.authcheck import uuid_error
from service.errors import INVALID_JSON, ApiError, not_found
from service.middleware import authenticated, read_body


def operator(request: web.Request) -> Operator:
    actor = request[keys.ACTOR]
    return Operator(
        actor.user.id,
        actor.roles,
        {"ip": request[keys.CLIENT_IP], "request_id": request[keys.REQUEST_ID]},
        actor.scope,
    )


def _admin(request: web.Request) -> tuple[Administration, Operator]:
    return request.app[keys.ADMIN], operator(request)


async def _user(request: web.Request) -> tuple[Administration, Operator, User]:
    admin, op = _admin(request)
    return admin, op, await admin.resolve_user(op, request.match_info["user"])


async def _org(request: web.Request) -> tuple[Administration, Operator, Organization]:
    admin, op = _admin(request)
    return admin, op, await admin.resolve_org(op, request.match_info["organization"])


async def _roles(request: web.Request) -> Sequence[str]:
    return (await bind_body(UpdateRoles, await read_body(request))).roles


# -- users -------------------------------------------------------------------------------


@authenticated
async def list_users(request: web.Request) -> web.StreamResponse:
    """GET /users (codersdk.GetUsersResponse)."""
    admin, op = _admin(request)
    query = parse_user_query(request.query.get("q", ""))
    page = parse_page(dict(request.query))
    users, count = await admin.list_users(op, query, page)
    return json_response(200, {"users": [u.to_api() for u in users], "count": count})


@authenticated
async def create_user(request: web.Request) -> web.StreamResponse:
    """POST /users: 201 codersdk.User."""
    admin, op = _admin(request)
    body = await bind_body(CreateUserRequestWithOrgs, await read_body(request))
    org_ids = list(body.organization_ids)
    if body.organization_id is not None:
        if problem := uuid_error(body.organization_id):
            raise ApiError(400, INVALID_JSON, problem)
        org_ids.append(body.organization_id)
    user = await admin.create_user(
        op,
        CreateUser(
            email=body.email,
            username=body.username,
            name=body.name,
            password=body.password,
            login_type=body.login_type,
            user_status=body.user_status,
            organization_ids=tuple(org_ids),
        ),
    )
    return json_response(201, user.to_api())


@authenticated
async def get_user(request: web.Request) -> web.StreamResponse:
    """GET /users/{user}."""
    _, _, user = await _user(request)
    return json_response(200, user.to_api())


@authenticated
async def delete_user(request: web.Request) -> web.StreamResponse:
    """DELETE /users/{user}."""
    admin, op, user = await _user(request)
    await admin.delete_user(op, user)
    return json_response(200, {"message": "User has been deleted!"})


@authenticated
async def update_profile(request: web.Request) -> web.StreamResponse:
    """PUT /users/{user}/profile."""
    admin, op, user = await _user(request)
    body = await bind_body(UpdateUserProfileRequest, await read_body(request))
    updated = await admin.update_profile(op, user, body.username, body.name)
    return json_response(200, updated.to_api())


@authenticated
async def suspend_user(request: web.Request) -> web.StreamResponse:
    """PUT /users/{user}/status/suspend."""
    admin, op, user = await _user(request)
    return json_response(200, (await admin.set_status(op, user, "suspended")).to_api())


@authenticated
async def activate_user(request: web.Request) -> web.StreamResponse:
    """PUT /users/{user}/status/activate."""
    admin, op, user = await _user(request)
    return json_response(200, (await admin.set_status(op, user, "active")).to_api())


@authenticated
async def change_password(request: web.Request) -> web.StreamResponse:
    """PUT /users/{user}/password: 204."""
    admin, op, user = await _user(request)

    async def body() -> tuple[str, str]:
        bound = await bind_body(UpdateUserPasswordRequest, await read_body(request))
        return bound.old_password, bound.password

    await admin.change_password(op, user, body)
    return web.Response(status=204)


@authenticated
async def user_roles(request: web.Request) -> web.StreamResponse:
    """GET /users/{user}/roles (codersdk.UserRoles)."""
    admin, op, user = await _user(request)
    return json_response(200, admin.user_roles(op, user))


@authenticated
async def set_user_roles(request: web.Request) -> web.StreamResponse:
    """PUT /users/{user}/roles."""
    admin, op, user = await _user(request)
    updated = await admin.set_site_roles(op, user, lambda: _roles(request))
    return json_response(200, updated.to_api())


@authenticated
async def user_organizations(request: web.Request) -> web.StreamResponse:
    """GET /users/{user}/organizations."""
    admin, op, user = await _user(request)
    return json_response(200, [o.to_api() for o in await admin.user_orgs(op, user)])


@authenticated
async def user_organization(request: web.Request) -> web.StreamResponse:
    """GET /users/{user}/organizations/{organizationname}."""
    admin, op, user = await _user(request)
    name = request.match_info["organizationname"]
    org = next((o for o in await admin.user_orgs(op, user) if o.name.lower() == name.lower()), None)
    if org is None:
        raise not_found()
    return json_response(200, org.to_api())


@authenticated
async def site_roles(request: web.Request) -> web.StreamResponse:
    """GET /users/roles (codersdk.AssignableRoles)."""
    admin, op = _admin(request)
    return json_response(200, admin.assignable_roles(op, None))


# -- organizations -----------------------------------------------------------------------


@authenticated
async def list_organizations(request: web.Request) -> web.StreamResponse:
    """GET /organizations."""
    admin, op = _admin(request)
    return json_response(200, [o.to_api() for o in await admin.list_orgs(op)])


@authenticated
async def create_organization(request: web.Request) -> web.StreamResponse:
    """POST /organizations: 201 codersdk.Organization."""
    admin, op = _admin(request)
    body = await bind_body(CreateOrganizationRequest, await read_body(request))
    org = await admin.create_org(op, body.name, body.display_name, body.description, body.icon)
    return json_response(201, org.to_api())


@authenticated
async def get_organization(request: web.Request) -> web.StreamResponse:
    """GET /organizations/{organization}."""
    _, _, org = await _org(request)
    return json_response(200, org.to_api())


@authenticated
async def update_organization(request: web.Request) -> web.StreamResponse:
    """PATCH /organizations/{organization}."""
    admin, op, org = await _org(request)
    body = await bind_body(UpdateOrganizationRequest, await read_body(request))
    updated = await admin.update_org(
        op, org, body.name, body.display_name, body.description, body.icon
    )
    return json_response(200, updated.to_api())


@authenticated
async def delete_organization(request: web.Request) -> web.StreamResponse:
    """DELETE /organizations/{organization}."""
    admin, op, org = await _org(request)
    await admin.delete_org(op, org)
    return json_response(200, {"message": "Organization has been deleted."})


@authenticated
async def list_members(request: web.Request) -> web.StreamResponse:
    """GET /organizations/{organization}/members (codersdk.OrganizationMemberWithUserData),
    optionally narrowed by `user_id` or `github_user_id`."""
    admin, op, org = await _org(request)
    roles = admin.policy_roles()
    members = await admin.members(op, org)
    if user_id := request.query.get("user_id", ""):
        members = [u for u in members if u.id == user_id.lower()]
    if github := request.query.get("github_user_id", ""):
        members = [u for u in members if u.links.get("github") == github]
    return json_response(200, [member_with_user_api(roles, u, org.id) for u in members])


@authenticated
async def get_member(request: web.Request) -> web.StreamResponse:
    """GET /organizations/{organization}/members/{user} (OrganizationMemberWithUserData)."""
    admin, op, org = await _org(request)
    user = await admin.resolve_member(op, org, request.match_info["user"])
    if not admin.can(op, "read", member_obj(org.id, user.id)):
        raise not_found()
    return json_response(200, member_with_user_api(admin.policy_roles(), user, org.id))


@authenticated
async def paginated_members(request: web.Request) -> web.StreamResponse:
    """GET /organizations/{organization}/paginated-members (codersdk.PaginatedMembersResponse)."""
    admin, op, org = await _org(request)
    page = parse_page(dict(request.query))
    roles = admin.policy_roles()
    members = await admin.members(op, org)
    window = members[page.offset :]
    if page.limit:
        window = window[: page.limit]
    return json_response(
        200,
        {
            "members": [member_with_user_api(roles, u, org.id) for u in window],
            "count": len(members),
        },
    )


@authenticated
async def add_member(request: web.Request) -> web.StreamResponse:
    """POST /organizations/{organization}/members/{user} (codersdk.OrganizationMember)."""
    admin, op, org = await _org(request)
    admin.member_route_guard(op, org, "add", request.match_info["user"])
    user = await admin.resolve_user(op, request.match_info["user"], as_system=True)
    member = await admin.add_member(op, org, user)
    return json_response(200, member_api(admin.policy_roles(), member, org.id))


@authenticated
async def remove_member(request: web.Request) -> web.StreamResponse:
    """DELETE /organizations/{organization}/members/{user}: 204."""
    admin, op, org = await _org(request)
    admin.member_route_guard(op, org, "remove", request.match_info["user"])
    user = await admin.resolve_member(op, org, request.match_info["user"])
    await admin.remove_member(op, org, user)
    return web.Response(status=204)


@authenticated
async def set_member_roles(request: web.Request) -> web.StreamResponse:
    """PUT /organizations/{organization}/members/{user}/roles (codersdk.OrganizationMember)."""
    admin, op, org = await _org(request)
    admin.member_route_guard(op, org, "roles", request.match_info["user"])
    user = await admin.resolve_member(op, org, request.match_info["user"])
    updated = await admin.set_member_roles(op, org, user, lambda: _roles(request))
    return json_response(200, member_api(admin.policy_roles(), updated, org.id))


@authenticated
async def organization_roles(request: web.Request) -> web.StreamResponse:
    """GET /organizations/{organization}/members/roles (codersdk.AssignableRoles)."""
    admin, op, org = await _org(request)
    return json_response(200, admin.assignable_roles(op, org.id))
