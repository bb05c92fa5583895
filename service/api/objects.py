"""Handlers of the object registry and Coder's groups API (thin: auth/registry.py decides).

PUT/GET/DELETE /authz/objects/{resource_type}/{resource_id}, POST /authz/objects (batch),
POST/GET /organizations/{organization}/groups, GET/PATCH/DELETE /groups/{group}.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service import keys
from service.api.admin import operator
from service.api.binding import bind_body
from service.api.models import (
    CreateGroupRequest,
    PatchGroupRequest,
    RegisterObjectRequest,
    RegisterObjectsRequest,
)
from service.api.responses import json_response
from service.auth.registry import ObjectSpec, Registry, object_item
from service.auth.users import Organization, User
from service.authz.objects import Group
from service.errors import ApiError
from service.middleware import authenticated, read_body

MAX_BATCH = 100


def _registry(request: web.Request) -> Registry:
    return request.app[keys.REGISTRY]


@authenticated
async def put_object(request: web.Request) -> web.StreamResponse:
    """PUT /authz/objects/{resource_type}/{resource_id}: 201 created, 200 replaced."""
    body = await bind_body(RegisterObjectRequest, await read_body(request))
    record, created = await _registry(request).put_object(
        operator(request),
        request.match_info["resource_type"],
        request.match_info["resource_id"],
        ObjectSpec(body.owner_id, body.organization_id, body.acl),
    )
    return json_response(201 if created else 200, record.to_api())


@authenticated
async def get_object(request: web.Request) -> web.StreamResponse:
    """GET /authz/objects/{resource_type}/{resource_id}."""
    record = await _registry(request).get_object(
        operator(request), request.match_info["resource_type"], request.match_info["resource_id"]
    )
    return json_response(200, record.to_api())


@authenticated
async def delete_object(request: web.Request) -> web.StreamResponse:
    """DELETE /authz/objects/{resource_type}/{resource_id}: 204."""
    await _registry(request).delete_object(
        operator(request), request.match_info["resource_type"], request.match_info["resource_id"]
    )
    return web.Response(status=204)


@authenticated
async def put_objects(request: web.Request) -> web.StreamResponse:
    """POST /authz/objects: register up to 100 objects, in order; 200 {"objects": [...]}.
    Each is checked before any is written, so a refused batch changes nothing."""
    body = await bind_body(RegisterObjectsRequest, await read_body(request))
    items = body.objects
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ApiError(400, "Invalid object.", '"objects" must be a list of objects')
    if len(items) > MAX_BATCH:
        raise ApiError(400, "Invalid object.", f"at most {MAX_BATCH} objects per request")
    registry, op = _registry(request), operator(request)
    specs: list[tuple[str, str, ObjectSpec]] = []
    for index, item in enumerate(items):
        spec = object_item(item)
        if spec is None:
            raise ApiError(400, "Invalid object.", f"objects[{index}]: ids must be strings")
        specs.append(spec)
    results = await registry.put_objects(op, specs)
    return json_response(200, {"objects": [r.to_api() for r in results]})


# -- groups ------------------------------------------------------------------------------


def _reduced_user(user: User) -> dict[str, Any]:
    """codersdk.ReducedUser."""
    out = user.to_api()
    out.pop("organization_ids", None)
    out.pop("roles", None)
    return out


async def _group_api(
    request: web.Request, group: Group, org: Organization | None = None
) -> dict[str, Any]:
    """codersdk.Group (`org`: the group's organization, when the caller has it)."""
    if org is None:
        org = await request.app[keys.ADMIN].org_by_id(group.organization_id)
    members = await _registry(request).members(group)
    return {
        "id": group.id,
        "name": group.name,
        "display_name": group.display_name,
        "organization_id": group.organization_id,
        "members": [_reduced_user(u) for u in members],
        "total_member_count": len(members),
        "avatar_url": group.avatar_url,
        "quota_allowance": group.quota_allowance,
        "source": group.source,
        "organization_name": org.name if org else "",
        "organization_display_name": org.display_name if org else "",
    }


@authenticated
async def create_group(request: web.Request) -> web.StreamResponse:
    """POST /organizations/{organization}/groups: 201 codersdk.Group."""
    op = operator(request)
    org = await request.app[keys.ADMIN].resolve_org(op, request.match_info["organization"])
    body = await bind_body(CreateGroupRequest, await read_body(request))
    group = await _registry(request).create_group(
        op, org, body.name, body.display_name, body.avatar_url, body.quota_allowance
    )
    return json_response(201, await _group_api(request, group, org))


@authenticated
async def list_groups(request: web.Request) -> web.StreamResponse:
    """GET /organizations/{organization}/groups: []codersdk.Group the caller may read."""
    op = operator(request)
    org = await request.app[keys.ADMIN].resolve_org(op, request.match_info["organization"])
    groups = await _registry(request).org_groups(op, org)
    return json_response(200, [await _group_api(request, g, org) for g in groups])


@authenticated
async def get_group(request: web.Request) -> web.StreamResponse:
    """GET /groups/{group}: codersdk.Group."""
    group = await _registry(request).group(operator(request), request.match_info["group"])
    return json_response(200, await _group_api(request, group))


@authenticated
async def patch_group(request: web.Request) -> web.StreamResponse:
    """PATCH /groups/{group}: 200 codersdk.Group."""
    registry, op = _registry(request), operator(request)
    group = await registry.group(op, request.match_info["group"])
    body = await bind_body(PatchGroupRequest, await read_body(request))
    updated = await registry.patch_group(
        op,
        group,
        body.name,
        body.display_name,
        body.avatar_url,
        body.quota_allowance,
        body.add_users,
        body.remove_users,
    )
    return json_response(200, await _group_api(request, updated))


@authenticated
async def delete_group(request: web.Request) -> web.StreamResponse:
    """DELETE /groups/{group}: 200 {"message": "Successfully deleted group!"}."""
    registry, op = _registry(request), operator(request)
    group = await registry.group(op, request.match_info["group"])
    await registry.delete_group(op, group)
    return json_response(200, {"message": "Successfully deleted group!"})
