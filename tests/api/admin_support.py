"""Helpers for the administration tests: Coder's coderdtest.CreateFirstUser and
CreateAnotherUser, done over HTTP as Coder's own tests do."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from tests.conftest import Client
from tests.support import STRONG

USERS = "/api/v2/users"
ORGS = "/api/v2/organizations"
FORBIDDEN = {
    "message": "Forbidden.",
    "detail": "You don't have permission to view this content. If you believe this is a "
    "mistake, please contact your administrator or try signing in with different credentials.",
}
NOT_FOUND = {"message": "Resource not found or you do not have access to this resource"}
_serial = itertools.count()


@dataclass
class Session:
    """A signed-in user, as coderdtest's clients are."""

    client: Client
    token: str
    user_id: str
    username: str
    email: str

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request with this session's token; (status, JSON body or None)."""
        resp = await self.client.request(
            method,
            path,
            json=body,
            headers={"Coder-Session-Token": self.token},
        )
        text = await resp.text()
        return resp.status, (await resp.json() if text else None)


async def sign_in(client: Client, email: str, password: str = STRONG) -> str:
    resp = await client.post(f"{USERS}/login", json={"email": email, "password": password})
    assert resp.status == 201, await resp.text()
    client.session.cookie_jar.clear()
    token: str = (await resp.json())["session_token"]
    return token


@dataclass
class Deployment:
    """The first user (an owner) and the default organization."""

    owner: Session
    org: str


async def first_user(client: Client) -> Deployment:
    """coderdtest.CreateFirstUser: POST /users/first, then log in."""
    resp = await client.post(
        f"{USERS}/first",
        json={"email": "admin@corp.example", "username": "admin", "password": STRONG},
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    token = await sign_in(client, "admin@corp.example")
    owner = Session(client, token, body["user_id"], "admin", "admin@corp.example")
    return Deployment(owner, body["organization_id"])


async def another_user(
    d: Deployment,
    *site_roles: str,
    org_roles: tuple[str, ...] = (),
    org: str | None = None,
    username: str | None = None,
) -> Session:
    """coderdtest.CreateAnotherUser: create through the API as the owner, grant roles, log in."""
    name = username or f"user{next(_serial)}"
    email = f"{name}@corp.example"
    org = org or d.org
    status, user = await d.owner.call(
        "POST",
        USERS,
        {"email": email, "username": name, "password": STRONG, "organization_ids": [org]},
    )
    assert status == 201, user
    if site_roles:
        status, body = await d.owner.call(
            "PUT", f"{USERS}/{user['id']}/roles", {"roles": list(site_roles)}
        )
        assert status == 200, body
    if org_roles:
        status, body = await d.owner.call(
            "PUT", f"{ORGS}/{org}/members/{user['id']}/roles", {"roles": list(org_roles)}
        )
        assert status == 200, body
    token = await sign_in(d.owner.client, email)
    return Session(d.owner.client, token, user["id"], name, email)
