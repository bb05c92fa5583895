"""User administration: Coder's users_test.go cases, ported to HTTP (each names its Go test),
plus this service's guard rails (last owner, atomic deletion, audit)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import cast

from service import keys
from service.store.users import RedisUserStore
from tests.api.admin_support import (
    FORBIDDEN,
    NOT_FOUND,
    ORGS,
    USERS,
    Deployment,
    another_user,
    first_user,
    sign_in,
)
from tests.conftest import Client, MakeClient
from tests.support import STRONG

NEW = {"email": "another@user.org", "username": "someone-else", "password": STRONG}


def new_user(d: Deployment, **extra: object) -> dict[str, object]:
    return {**NEW, "organization_ids": [d.org], **extra}


async def audit_events(client: Client) -> list[dict[str, str]]:
    return await client.app[keys.AUDIT].tail(100)


# -- POST /users (TestPostUsers) ------------------------------------------------------------


async def test_post_users_no_auth(client: Client) -> None:
    """TestPostUsers/NoAuth: creating a user needs a session."""
    resp = await client.post(USERS, json={})
    assert resp.status == 401


async def test_post_users_conflicting(client: Client) -> None:
    """TestPostUsers/Conflicting: the caller's own email and username -> 409, before the
    (random, unknown) organization is looked at."""
    d = await first_user(client)
    status, body = await d.owner.call(
        "POST",
        USERS,
        {
            "email": "admin@corp.example",
            "username": "admin",
            "password": "MySecurePassword!",
            "organization_ids": [str(uuid.uuid4())],
        },
    )
    assert (status, body) == (409, {"message": "User already exists."})


async def test_post_users_conflict_is_case_insensitive(client: Client) -> None:
    """Another case of an existing email or username is the same account -> 409."""
    d = await first_user(client)
    for email, username in (("ADMIN@corp.example", "fresh"), ("fresh@corp.example", "ADMIN")):
        body = new_user(d, email=email, username=username)
        assert (await d.owner.call("POST", USERS, body))[0] == 409


async def test_post_users_organization_not_found(client: Client) -> None:
    """TestPostUsers/OrganizationNotFound: 404 naming the id."""
    d = await first_user(client)
    org = str(uuid.uuid4())
    status, body = await d.owner.call("POST", USERS, {**NEW, "organization_ids": [org]})
    assert status == 404
    assert body == {"message": f'Organization does not exist with the provided id "{org}".'}


async def test_post_users_create(client: Client) -> None:
    """TestPostUsers/Create: 201, dormant, in the given organization, audited."""
    d = await first_user(client)
    status, user = await d.owner.call("POST", USERS, new_user(d))
    assert status == 201
    assert user["status"] == "dormant"
    assert user["organization_ids"] == [d.org]
    assert user["login_type"] == "password"
    assert user["roles"] == []
    assert user["last_seen_at"] == "0001-01-01T00:00:00Z"
    created = [e for e in await audit_events(client) if e["event"] == "user_created"]
    assert created[-1]["user_id"] == user["id"]
    assert created[-1]["actor"] == d.owner.user_id
    assert "password" not in json.dumps(created[-1]).replace("password", "", 1)


async def test_post_users_create_with_status(client: Client) -> None:
    """TestPostUsers/CreateWithStatus: user_status active is kept."""
    d = await first_user(client)
    status, user = await d.owner.call("POST", USERS, new_user(d, user_status="active"))
    assert status == 201 and user["status"] == "active"


async def test_post_users_last_seen_at(client: Client) -> None:
    """TestPostUsers/LastSeenAt: the caller was seen now; a new user never."""
    d = await first_user(client)
    await d.owner.call("POST", USERS, new_user(d))
    status, body = await d.owner.call("GET", USERS)
    assert status == 200 and body["count"] == 2
    seen = {u["username"]: u["last_seen_at"] for u in body["users"]}
    assert seen["someone-else"] == "0001-01-01T00:00:00Z"
    assert seen["admin"] != "0001-01-01T00:00:00Z"


async def test_post_users_none_login_type(client: Client) -> None:
    """TestPostUsers/CreateNoneLoginType: login_type none without a password."""
    d = await first_user(client)
    body = new_user(d, password="", login_type="none")
    status, user = await d.owner.call("POST", USERS, body)
    assert status == 201
    status, found = await d.owner.call("GET", f"{USERS}/{user['id']}")
    assert status == 200 and found["login_type"] == "none"


async def test_post_users_oidc_needs_oidc(client: Client) -> None:
    """postUser: an OIDC user needs OIDC configured; a password with another type is refused."""
    d = await first_user(client)
    status, body = await d.owner.call("POST", USERS, new_user(d, password="", login_type="oidc"))
    assert (status, body) == (
        400,
        {"message": "You must configure OIDC before creating OIDC users."},
    )
    status, body = await d.owner.call("POST", USERS, new_user(d, login_type="github"))
    assert status == 400
    assert body == {"message": 'Password cannot be set for non-password ("github") authentication.'}
    status, body = await d.owner.call("POST", USERS, new_user(d, password="", login_type="saml"))
    assert status == 400
    assert body == {"message": 'Unsupported login type "saml" for manually creating new users.'}


async def test_post_users_validation(client: Client) -> None:
    """postUser: no organization, a weak password and bad fields get Coder's 400s."""
    d = await first_user(client)
    status, body = await d.owner.call("POST", USERS, NEW)
    assert status == 400
    assert body == {
        "message": "No organization specified to place the user as a member of. It is "
        "required to specify at least one organization id to place the user in.",
        "detail": "required at least 1 value for the array 'organization_ids'",
        "validations": [
            {"field": "organization_ids", "detail": "Missing values, this cannot be empty"}
        ],
    }
    status, body = await d.owner.call("POST", USERS, new_user(d, password="short"))
    assert status == 400 and body["message"] == "Password not strong enough!"
    assert body["validations"][0]["field"] == "password"
    status, body = await d.owner.call("POST", USERS, new_user(d, username="not valid"))
    assert status == 400 and body["message"] == "Validation failed."
    status, body = await d.owner.call("POST", USERS, new_user(d, organization_ids=["abc"]))
    assert (status, body) == (
        400,
        {"message": "Request body must be valid JSON.", "detail": "invalid UUID length: 3"},
    )
    status, body = await d.owner.call("POST", USERS, new_user(d, organization_ids=[1]))
    assert status == 400
    assert body["detail"] == (
        "json: cannot unmarshal number into Go struct field "
        "CreateUserRequestWithOrgs.organization_ids of type uuid.UUID"
    )


async def test_post_users_nil_org_means_default_and_legacy_field(client: Client) -> None:
    """postUser: the nil UUID stands for the default organization; the older single
    `organization_id` field is still read (codersdk's UnmarshalJSON)."""
    d = await first_user(client)
    nil = "00000000-0000-0000-0000-000000000000"
    status, user = await d.owner.call("POST", USERS, {**NEW, "organization_ids": [nil]})
    assert status == 201 and user["organization_ids"] == [d.org]
    body = {**NEW, "email": "b@corp.example", "username": "b", "organization_id": d.org}
    status, user = await d.owner.call("POST", USERS, body)
    assert status == 201 and user["organization_ids"] == [d.org]


async def test_post_users_disabled_password_auth(make_client: MakeClient) -> None:
    """postUser: with password auth disabled, password users cannot be provisioned."""
    client = await make_client(disable_password_auth=True)
    owner = await client.app[keys.DIRECTORY].find("x")  # nobody yet
    assert owner is None
    resp = await client.post(
        f"{USERS}/first",
        json={"email": "admin@corp.example", "username": "admin", "password": STRONG},
    )
    assert resp.status == 201
    user_id = (await resp.json())["user_id"]
    # Password login is off: sign the owner in with a session issued directly.
    token = await client.app[keys.SESSIONS].issue(user_id, "password", "127.0.0.1", epoch=0)
    resp = await client.post(
        USERS,
        json={**NEW, "organization_ids": ["00000000-0000-0000-0000-000000000000"]},
        headers={"Coder-Session-Token": token},
    )
    assert resp.status == 403
    assert (await resp.json())["message"] == (
        "Password based authentication is disabled! Unable to provision new users with "
        "password authentication."
    )


async def test_new_user_can_log_in_and_becomes_active(client: Client) -> None:
    """TestDormantUser: a created user is dormant until its first login."""
    d = await first_user(client)
    await d.owner.call("POST", USERS, new_user(d))
    _, page = await d.owner.call("GET", f"{USERS}?q=someone-else")
    assert page["users"][0]["status"] == "dormant"
    await sign_in(client, NEW["email"])
    _, page = await d.owner.call("GET", f"{USERS}?q=someone-else")
    assert page["users"][0]["status"] == "active"


# -- DELETE /users/{user} (TestDeleteUser) ---------------------------------------------------


async def test_delete_user_works(client: Client) -> None:
    """TestDeleteUser/Works: deleted, the same email and username can be reused, and the
    deleted user's session is refused at once."""
    d = await first_user(client)
    another = await another_user(d)
    status, body = await d.owner.call("DELETE", f"{USERS}/{another.user_id}")
    assert (status, body) == (200, {"message": "User has been deleted!"})
    status, again = await d.owner.call(
        "POST",
        USERS,
        {
            "email": another.email,
            "username": another.username,
            "password": STRONG,
            "organization_ids": [d.org],
        },
    )
    assert status == 201
    assert (await d.owner.call("DELETE", f"{USERS}/{again['id']}"))[0] == 200
    assert (await another.call("GET", f"{USERS}/me"))[0] == 401


async def test_delete_user_no_permission(client: Client) -> None:
    """TestDeleteUser/NoPermission: a member cannot even see the owner -> 400."""
    d = await first_user(client)
    member = await another_user(d)
    status, body = await member.call("DELETE", f"{USERS}/{d.owner.user_id}")
    assert status == 400
    assert body["message"] == '"user" must be an existing uuid or username.'


async def test_delete_user_self(client: Client) -> None:
    """TestDeleteUser/Self: 403 "You cannot delete yourself!"."""
    d = await first_user(client)
    status, body = await d.owner.call("DELETE", f"{USERS}/me")
    assert (status, body) == (403, {"message": "You cannot delete yourself!"})


async def test_delete_removes_everything_in_one_step(client: Client) -> None:
    """Deleting a user removes its record, indexes, memberships, sessions and codes; nothing
    of it is left in Redis, and every cached copy is dropped."""
    d = await first_user(client)
    gone = await another_user(d)
    await client.post("/api/v2/users/otp/request", json={"email": gone.email})
    while await client.app[keys.OUTBOX_WORKER].run_once():
        pass
    assert (await d.owner.call("DELETE", f"{USERS}/{gone.user_id}"))[0] == 200
    redis = client.app[keys.REDIS]
    async for key in redis.scan_iter("*"):
        value = await redis.dump(key)
        assert gone.user_id.encode() not in (value or b"") or key.startswith("authsvc:audit"), key
    assert await client.app[keys.USERS].by_email(gone.email) is None
    assert await client.app[keys.USERS].by_username(gone.username) is None


async def test_user_admin_cannot_delete_an_owner(client: Client) -> None:
    """A user admin may delete users, but not an owner (that takes unassigning the role)."""
    d = await first_user(client)
    other_owner = await another_user(d, "owner")
    admin = await another_user(d, "user-admin")
    member = await another_user(d)
    assert (await admin.call("DELETE", f"{USERS}/{other_owner.user_id}")) == (403, FORBIDDEN)
    assert (await admin.call("DELETE", f"{USERS}/{member.user_id}"))[0] == 200


async def test_owners_deleting_each_other_keep_one(client: Client) -> None:
    """Two owners deleting each other at once: one deletion succeeds, the other is refused
    with 400, and one owner remains (the check runs inside the write)."""
    d = await first_user(client)
    second = await another_user(d, "owner")
    results = await asyncio.gather(
        d.owner.call("DELETE", f"{USERS}/{second.user_id}"),
        second.call("DELETE", f"{USERS}/{d.owner.user_id}"),
    )
    statuses = sorted(status for status, _ in results)
    owners = [u for u in await client.app[keys.USERS].all() if "owner" in u.roles]
    assert len(owners) == 1
    assert statuses[0] == 200
    assert statuses[1] in (400, 401)  # refused, or signed out because it was just deleted


# -- PUT /users/{user}/profile (TestUpdateUserProfile) ---------------------------------------


async def test_profile_user_not_found(client: Client) -> None:
    """TestUpdateUserProfile/UserNotFound: an unknown id -> 400."""
    d = await first_user(client)
    status, body = await d.owner.call(
        "PUT", f"{USERS}/{uuid.uuid4()}/profile", {"username": "newusername"}
    )
    assert status == 400
    assert body["message"] == '"user" must be an existing uuid or username.'


async def test_profile_conflicting_username(client: Client) -> None:
    """TestUpdateUserProfile/ConflictingUsername: 409 with the username validation, in any
    case of the name."""
    d = await first_user(client)
    await d.owner.call(
        "POST",
        USERS,
        {
            "email": "bruno@coder.com",
            "username": "bruno",
            "password": STRONG,
            "organization_ids": [d.org],
        },
    )
    for name in ("bruno", "BRUNO"):
        status, body = await d.owner.call("PUT", f"{USERS}/me/profile", {"username": name})
        assert status == 409
        assert body == {
            "message": "A user with this username already exists.",
            "validations": [{"field": "username", "detail": "This username is already in use."}],
        }


async def test_profile_update_self(client: Client) -> None:
    """TestUpdateUserProfile/UpdateSelf: new username and name; the old username is free."""
    d = await first_user(client)
    status, user = await d.owner.call(
        "PUT", f"{USERS}/me/profile", {"username": "admin1", "name": "Admin 1"}
    )
    assert status == 200
    assert (user["username"], user["name"]) == ("admin1", "Admin 1")
    assert (await d.owner.call("GET", f"{USERS}/admin1"))[0] == 200
    assert (await d.owner.call("GET", f"{USERS}/admin"))[0] == 400
    assert [e for e in await audit_events(client) if e["event"] == "user_profile_updated"]


async def test_profile_update_self_as_member_and_case(client: Client) -> None:
    """TestUpdateUserProfile/UpdateSelfAsMember, and TestUsersFilter's upper-casing of the
    caller's own username."""
    d = await first_user(client)
    member = await another_user(d)
    status, user = await member.call(
        "PUT", f"{USERS}/me/profile", {"username": member.username.upper(), "name": "New Name"}
    )
    assert status == 200 and user["username"] == member.username.upper()


async def test_profile_invalid_real_name(client: Client) -> None:
    """TestUpdateUserProfile/InvalidRealUserName: a leading space -> 400."""
    d = await first_user(client)
    status, body = await d.owner.call(
        "PUT", f"{USERS}/me/profile", {"username": "admin", "name": " Mr Bean"}
    )
    assert status == 400 and body["message"] == "Validation failed."
    assert body["validations"] == [
        {
            "field": "name",
            "detail": 'Validation failed for tag "user_real_name" with value: " Mr Bean"',
        }
    ]


async def test_profile_of_another_needs_update_personal(client: Client) -> None:
    """An auditor can read a user but not edit the profile: 403; a member cannot see it."""
    d = await first_user(client)
    auditor = await another_user(d, "auditor")
    member = await another_user(d)
    body = {"username": "renamed"}
    assert await auditor.call("PUT", f"{USERS}/{member.user_id}/profile", body) == (
        403,
        FORBIDDEN,
    )
    assert (await member.call("PUT", f"{USERS}/{auditor.user_id}/profile", body))[0] == 400


# -- PUT /users/{user}/password (TestUpdateUserPassword) -------------------------------------


async def test_password_member_cannot_update_admin(client: Client) -> None:
    """TestUpdateUserPassword/MemberCantUpdateAdminPassword."""
    d = await first_user(client)
    member = await another_user(d)
    status, _ = await member.call(
        "PUT", f"{USERS}/{d.owner.user_id}/password", {"password": "newpassword"}
    )
    assert status >= 400


async def test_password_admin_updates_member(client: Client) -> None:
    """TestUpdateUserPassword/AdminCanUpdateMemberPassword: no old password needed; the
    member signs in with the new one, and its old sessions end."""
    d = await first_user(client)
    member = await another_user(d)
    status, _ = await d.owner.call(
        "PUT", f"{USERS}/{member.user_id}/password", {"password": "SomeNewStrongPassword!"}
    )
    assert status == 204
    assert (await member.call("GET", f"{USERS}/me"))[0] == 401
    await sign_in(client, member.email, "SomeNewStrongPassword!")


async def test_password_auditor_gets_404(client: Client) -> None:
    """TestUpdateUserPassword/AuditorCantUpdateOtherUserPassword and
    AuditorCantTellIfPasswordIncorrect: 404, whatever the body."""
    d = await first_user(client)
    auditor = await another_user(d, "auditor")
    member = await another_user(d)
    for body in ({"password": "SomeNewStrongPassword!"}, {"password": "MySecurePassword!"}):
        assert await auditor.call("PUT", f"{USERS}/{member.user_id}/password", body) == (
            404,
            NOT_FOUND,
        )


async def test_password_member_updates_own(client: Client) -> None:
    """TestUpdateUserPassword/MemberCanUpdateOwnPassword, audited without the password."""
    d = await first_user(client)
    member = await another_user(d)
    status, _ = await member.call(
        "PUT",
        f"{USERS}/me/password",
        {"old_password": STRONG, "password": "MyNewSecurePassword!"},
    )
    assert status == 204
    event = [e for e in await audit_events(client) if e["event"] == "user_password_changed"][-1]
    assert event["user_id"] == member.user_id
    assert "MyNewSecurePassword" not in json.dumps(event) and STRONG not in json.dumps(event)


async def test_password_own_needs_old(client: Client) -> None:
    """TestUpdateUserPassword/MemberCantUpdateOwnPasswordWithoutOldPassword,
    AdminCantUpdateOwnPasswordWithoutOldPassword and PasswordsMustDiffer."""
    d = await first_user(client)
    member = await another_user(d)
    for session in (member, d.owner):
        status, body = await session.call("PUT", f"{USERS}/me/password", {"password": STRONG})
        assert (status, body) == (400, {"message": "Old password is required."})
    status, body = await d.owner.call(
        "PUT", f"{USERS}/me/password", {"old_password": STRONG, "password": STRONG}
    )
    assert (status, body) == (400, {"message": "New password cannot match old password."})


async def test_password_wrong_old_and_weak_new(client: Client) -> None:
    """putUserPassword: a weak new password and a wrong old one get Coder's messages."""
    d = await first_user(client)
    status, body = await d.owner.call(
        "PUT", f"{USERS}/me/password", {"old_password": STRONG, "password": "short"}
    )
    assert status == 400 and body["message"] == "Invalid password."
    status, body = await d.owner.call(
        "PUT",
        f"{USERS}/me/password",
        {"old_password": "Wrong-Password-1", "password": "X" + STRONG},
    )
    assert (status, body) == (
        400,
        {
            "message": "Old password is incorrect.",
            "validations": [{"field": "old_password", "detail": "Old password is incorrect."}],
        },
    )


async def test_password_non_password_user(client: Client) -> None:
    """putUserPassword: users of another login type cannot change a password."""
    d = await first_user(client)
    status, user = await d.owner.call("POST", USERS, new_user(d, password="", login_type="none"))
    status, body = await d.owner.call(
        "PUT", f"{USERS}/{user['id']}/password", {"password": "X" + STRONG}
    )
    assert (status, body) == (
        400,
        {"message": "Users without password login type cannot change their password."},
    )


async def test_old_password_guesses_are_limited(make_client: MakeClient) -> None:
    """A stolen session is not an unlimited password oracle: after LOGIN_FAILURE_LIMIT wrong
    old passwords the account's budget answers 429, even for the right one."""
    client = await make_client(login_failure_limit=3)
    d = await first_user(client)
    for i in range(3):
        status, _ = await d.owner.call(
            "PUT", f"{USERS}/me/password", {"old_password": f"guess-{i}", "password": "X" + STRONG}
        )
        assert status == 400
    status, body = await d.owner.call(
        "PUT", f"{USERS}/me/password", {"old_password": STRONG, "password": "X" + STRONG}
    )
    assert status == 429, body


# -- status (TestPutUserSuspend, TestActivateDormantUser) ----------------------------------


async def test_suspend_an_owner(client: Client) -> None:
    """TestPutUserSuspend/SuspendAnOwner: refused with Coder's message."""
    d = await first_user(client)
    owner2 = await another_user(d, "owner")
    status, body = await d.owner.call("PUT", f"{USERS}/{owner2.username}/status/suspend")
    assert (status, body) == (
        400,
        {
            "message": 'You cannot suspend a user with the "owner" role. You must remove the '
            "role first."
        },
    )


async def test_suspend_another_user(client: Client) -> None:
    """TestPutUserSuspend/SuspendAnotherUser: 200 suspended; its session ends at once."""
    d = await first_user(client)
    member = await another_user(d)
    assert (await member.call("GET", f"{USERS}/me"))[0] == 200
    status, user = await d.owner.call("PUT", f"{USERS}/{member.username}/status/suspend")
    assert status == 200 and user["status"] == "suspended"
    status, body = await member.call("GET", f"{USERS}/me")
    assert status == 401 and "Contact an admin" in body["message"]
    resp = await client.post(f"{USERS}/login", json={"email": member.email, "password": STRONG})
    assert resp.status == 401 and "suspended" in (await resp.json())["message"]
    assert [e for e in await audit_events(client) if e["event"] == "user_suspended"]


async def test_suspend_itself(client: Client) -> None:
    """TestPutUserSuspend/SuspendItSelf."""
    d = await first_user(client)
    status, body = await d.owner.call("PUT", f"{USERS}/me/status/suspend")
    assert (status, body) == (400, {"message": "You cannot suspend yourself."})


async def test_activate_dormant_user(client: Client) -> None:
    """TestActivateDormantUser."""
    d = await first_user(client)
    status, user = await d.owner.call(
        "POST",
        USERS,
        {
            "email": "coder@coder.com",
            "username": "coder",
            "password": STRONG,
            "organization_ids": [d.org],
        },
    )
    assert user["status"] == "dormant"
    status, user = await d.owner.call("PUT", f"{USERS}/coder/status/activate")
    assert status == 200 and user["status"] == "active"
    assert (await d.owner.call("GET", f"{USERS}/coder"))[1]["status"] == "active"


async def test_status_needs_user_update(client: Client) -> None:
    """An auditor can read users but not suspend them: 403 Forbidden."""
    d = await first_user(client)
    auditor = await another_user(d, "auditor")
    member = await another_user(d)
    assert await auditor.call("PUT", f"{USERS}/{member.user_id}/status/suspend") == (
        403,
        FORBIDDEN,
    )


# -- GET /users/{user} (TestGetUser) ---------------------------------------------------------


async def test_get_user_by_me_id_and_username(client: Client) -> None:
    """TestGetUser/ByMe, ByID, ByUsername."""
    d = await first_user(client)
    by_me = (await d.owner.call("GET", f"{USERS}/me"))[1]
    by_id = (await d.owner.call("GET", f"{USERS}/{d.owner.user_id}"))[1]
    by_name = (await d.owner.call("GET", f"{USERS}/ADMIN"))[1]
    assert by_me == by_id == by_name
    assert by_me["id"] == d.owner.user_id and by_me["organization_ids"] == [d.org]


async def test_static_user_paths_are_not_usernames(client: Client) -> None:
    """As in Coder's router, /users/login with another method is a 405, not a user lookup."""
    d = await first_user(client)
    status, body = await d.owner.call("GET", f"{USERS}/login")
    assert status == 405 and body == {"message": "Method not allowed."}
    assert (await d.owner.call("DELETE", f"{USERS}/first"))[0] == 405


# -- roles (TestInitialRoles, TestGrantSiteRoles) ------------------------------------------


async def test_initial_roles(client: Client) -> None:
    """TestInitialRoles: the first user is an owner and a plain member of the default org."""
    d = await first_user(client)
    status, roles = await d.owner.call("GET", f"{USERS}/me/roles")
    assert status == 200
    assert roles == {"roles": ["owner"], "organization_roles": {d.org: []}}


async def test_grant_site_roles(client: Client) -> None:
    """TestGrantSiteRoles: who may assign which site role, and Coder's messages."""
    d = await first_user(client)
    member = await another_user(d)
    user_admin = await another_user(d, "user-admin")
    target = await another_user(d)
    roles = f"{USERS}/{target.user_id}/roles"
    # A member may not assign anything.
    assert (await member.call("PUT", roles, {"roles": ["auditor"]}))[0] == 400
    # A user admin may not make owners or auditors, only keep members.
    assert await user_admin.call("PUT", roles, {"roles": ["owner"]}) == (403, FORBIDDEN)
    assert await user_admin.call("PUT", roles, {"roles": ["auditor"]}) == (403, FORBIDDEN)
    assert (await user_admin.call("PUT", roles, {"roles": []}))[0] == 200
    # Unknown and organization roles are not site roles.
    for name in ("not-a-role", "organization-admin"):
        status, body = await d.owner.call("PUT", roles, {"roles": [name]})
        assert (status, body) == (400, {"message": f'"{name}" is not a supported role'})
    # An owner may assign any site role; the change is visible at once.
    status, user = await d.owner.call("PUT", roles, {"roles": ["auditor", "template-admin"]})
    assert status == 200
    assert user["roles"] == [
        {"name": "auditor", "display_name": "Auditor"},
        {"name": "template-admin", "display_name": "Template Admin"},
    ]
    status, body = await target.call(
        "POST",
        "/api/v2/authcheck",
        {"checks": {"x": {"object": {"resource_type": "audit_log"}, "action": "read"}}},
    )
    assert body == {"x": True}
    # Nobody changes their own roles.
    status, body = await d.owner.call("PUT", f"{USERS}/me/roles", {"roles": []})
    assert (status, body) == (400, {"message": "You cannot change your own roles."})


async def test_last_owner_keeps_the_role(client: Client) -> None:
    """Two owners demoting each other at once: exactly one keeps the role."""
    d = await first_user(client)
    second = await another_user(d, "owner")
    results = await asyncio.gather(
        d.owner.call("PUT", f"{USERS}/{second.user_id}/roles", {"roles": []}),
        second.call("PUT", f"{USERS}/{d.owner.user_id}/roles", {"roles": []}),
    )
    # One demotion lands; the other is refused (by the write's own check, or because its
    # author, just demoted, may no longer even see the target).
    assert sorted(s for s, _ in results)[0] == 200
    assert sorted(s for s, _ in results)[1] in (400, 403)
    owners = [u for u in await client.app[keys.USERS].all() if "owner" in u.roles]
    assert len(owners) == 1


async def test_last_owner_check_is_inside_the_write(client: Client) -> None:
    """The store refuses to take the role from the last owner, however the caller got
    there (two concurrent writes, or the command line): exactly one of two demotions of
    the only two owners lands."""
    d = await first_user(client)
    second = await another_user(d, "owner")
    store = cast(RedisUserStore, client.app[keys.USERS])
    outcomes = await asyncio.gather(
        store.set_site_roles(d.owner.user_id, (), 1.0, keeps_owner=False),
        store.set_site_roles(second.user_id, (), 1.0, keeps_owner=False),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["LastOwner", "bool"]
    assert len([u for u in await store.all() if "owner" in u.roles]) == 1


async def test_user_roles_read_personal(client: Client) -> None:
    """GET /users/{user}/roles needs read_personal: an auditor gets 404 for another user."""
    d = await first_user(client)
    auditor = await another_user(d, "auditor")
    assert await auditor.call("GET", f"{USERS}/{d.owner.user_id}/roles") == (404, NOT_FOUND)
    assert (await auditor.call("GET", f"{USERS}/me/roles"))[0] == 200


async def test_assignable_site_roles(client: Client) -> None:
    """GET /users/roles: every site role but member, with what the caller may assign."""
    d = await first_user(client)
    user_admin = await another_user(d, "user-admin")
    status, roles = await user_admin.call("GET", f"{USERS}/roles")
    assert status == 200
    assignable = {r["name"]: r["assignable"] for r in roles}
    assert assignable == {
        "owner": False,
        "auditor": False,
        "template-admin": False,
        "user-admin": False,
    }
    auditor = next(r for r in roles if r["name"] == "auditor")
    assert auditor["display_name"] == "Auditor" and auditor["built_in"] is True
    assert {"negate": False, "resource_type": "audit_log", "action": "read"} in auditor[
        "site_permissions"
    ]
    status, roles = await d.owner.call("GET", f"{USERS}/roles")
    assert all(r["assignable"] for r in roles)


# -- GET /users (TestGetUsers, TestUsersFilter, TestGetUsersPagination) --------------------


async def test_get_users_all_and_active(client: Client) -> None:
    """TestGetUsers/AllUsers and ActiveUsers."""
    d = await first_user(client)
    for name in ("alice", "tom"):
        await d.owner.call(
            "POST",
            USERS,
            {
                "email": f"{name}@email.com",
                "username": name,
                "password": STRONG,
                "organization_ids": [d.org],
            },
        )
    await d.owner.call("PUT", f"{USERS}/alice/status/suspend")
    await d.owner.call("PUT", f"{USERS}/tom/status/activate")
    _status, page = await d.owner.call("GET", USERS)
    assert page["count"] == 3 and all(len(u["organization_ids"]) == 1 for u in page["users"])
    _, page = await d.owner.call("GET", f"{USERS}?q=status:active")
    assert sorted(u["username"] for u in page["users"]) == ["admin", "tom"]
    _, page = await d.owner.call("GET", f"{USERS}?q=status:ACTIVE")
    assert sorted(u["username"] for u in page["users"]) == ["admin", "tom"]


async def test_get_users_login_type_filters(client: Client) -> None:
    """TestGetUsers/LoginTypeNoneFilter, LoginTypeMultipleFilter, DormantUserWithLoginTypeNone."""
    d = await first_user(client)
    for name, login_type in (("bob", "none"), ("charlie", "github")):
        await d.owner.call(
            "POST",
            USERS,
            {
                "email": f"{name}@email.com",
                "username": name,
                "login_type": login_type,
                "organization_ids": [d.org],
            },
        )
    _, page = await d.owner.call("GET", f"{USERS}?q=login_type:none")
    assert [u["username"] for u in page["users"]] == ["bob"]
    _, page = await d.owner.call("GET", f"{USERS}?q=login_type:none login_type:github")
    assert [u["username"] for u in page["users"]] == ["bob", "charlie"]
    await d.owner.call("PUT", f"{USERS}/bob/status/suspend")
    _, page = await d.owner.call("GET", f"{USERS}?q=status:suspended login_type:none,github")
    assert [(u["username"], u["status"]) for u in page["users"]] == [("bob", "suspended")]


async def test_users_filter(client: Client) -> None:
    """TestUsersFilter: status, role (member matches all), search, and quoted dates."""
    d = await first_user(client)
    store = client.app[keys.USERS]
    noon = datetime(2023, 1, 18, 12, tzinfo=UTC).timestamp()
    made = []
    for i in range(8):
        roles = (["template-admin", "user-admin"] if i % 2 == 0 else []) + (
            ["auditor"] if i % 3 == 0 else []
        )
        session = await another_user(d, *roles, username=f"u{i}a" if i % 2 else f"u{i}i")
        await store.update(session.user_id, last_seen_at=noon - 86400 * i)
        if i % 4 == 0:
            await d.owner.call("PUT", f"{USERS}/{session.user_id}/status/suspend")
        made.append(session.username)

    async def names(q: str) -> list[str]:
        status, page = await d.owner.call("GET", f"{USERS}?q={q}")
        assert status == 200, page
        return sorted(u["username"] for u in page["users"])

    everyone = sorted(["admin", *made])
    assert await names("status:suspended,active") == everyone
    assert await names("role:member status:suspended,active") == everyone
    assert await names("role:OWNER") == ["admin"]
    assert await names("status:suspended") == ["u0i", "u4i"]
    assert await names("i role:auditor status:active") == ["u6i"]
    assert await names("I Role:Auditor STATUS:Active") == ["u6i"]
    # 2023-01-16T00:00:00+12:00 is 2023-01-15T12:00Z: users seen 4 or more days before noon
    # on the 18th (the owner was seen now, never-seen users would count as before).
    before = await names('last_seen_before:"2023-01-16T00:00:00%2B12:00"')
    assert before == ["u4i", "u5a", "u6i", "u7a"]
    week = await names(
        'last_seen_before:"2023-01-14T23:59:59Z" last_seen_after:"2023-01-08T00:00:00Z"'
    )
    assert week == ["u4i", "u5a", "u6i", "u7a"]


async def test_users_query_errors(client: Client) -> None:
    """searchquery.Users: Coder's 400s for bad elements, keys and values."""
    d = await first_user(client)
    cases = {
        "status:": "Query element \"status:\" cannot start or end with ':'",
        "a:b:c": "Query element \"a:b:c\" can only contain 1 ':'",
        "foo:bar": '"foo" is not a valid query param',
        "status:gone": 'Query param "status" has invalid values: "gone" is not a valid value',
    }
    for q, detail in cases.items():
        status, body = await d.owner.call("GET", f"{USERS}?q={q}")
        assert status == 400 and body["message"] == "Invalid user search query.", body
        assert body["validations"][0]["detail"] == detail
    status, body = await d.owner.call("GET", f"{USERS}?limit=-1")
    assert status == 400 and body["message"] == "Query parameters have invalid values."
    status, body = await d.owner.call("GET", f"{USERS}?after_id=nope")
    assert body["validations"] == [
        {"field": "after_id", "detail": 'Query param "after_id" must be a valid uuid'}
    ]


async def test_get_users_pagination(client: Client) -> None:
    """TestGetUsersPagination: limit, offset, and an offset past the end counts 0."""
    d = await first_user(client)
    await d.owner.call(
        "POST",
        USERS,
        {
            "email": "alice@email.com",
            "username": "alice",
            "password": STRONG,
            "organization_ids": [d.org],
        },
    )
    for query, length, count in (
        ("", 2, 2),
        ("limit=1", 1, 2),
        ("offset=1", 1, 2),
        ("offset=3", 0, 0),
    ):
        _, page = await d.owner.call("GET", f"{USERS}?{query}")
        assert (len(page["users"]), page["count"]) == (length, count), query


async def test_paginated_users_by_cursor_and_offset(client: Client) -> None:
    """TestPaginatedUsers: cursor (after_id) and offset pages agree, sorted by lower-cased
    username; a suspended cursor still works (TestSuspendedPagination)."""
    d = await first_user(client)
    for i in range(12):
        name = f"specialuser{i}" if i % 2 == 0 else f"user{i}"
        if i % 3 == 0:
            name = name.upper()
        await d.owner.call(
            "POST",
            USERS,
            {
                "email": f"{i}@corp.example",
                "username": name,
                "login_type": "none",
                "organization_ids": [d.org],
            },
        )
    _, all_page = await d.owner.call("GET", USERS)
    expected = sorted((u["username"] for u in all_page["users"]), key=str.lower)
    assert [u["username"] for u in all_page["users"]] == expected
    for limit in (3, 5):
        seen: list[str] = []
        _, page = await d.owner.call("GET", f"{USERS}?limit={limit}")
        while page["users"]:
            seen += [u["username"] for u in page["users"]]
            _, by_offset = await d.owner.call("GET", f"{USERS}?limit={limit}&offset={len(seen)}")
            _, page = await d.owner.call(
                "GET", f"{USERS}?limit={limit}&after_id={page['users'][-1]['id']}"
            )
            assert page["users"] == by_offset["users"]
        assert seen == expected
    cursor = all_page["users"][2]
    await d.owner.call("PUT", f"{USERS}/{cursor['id']}/status/suspend")
    _, page = await d.owner.call("GET", f"{USERS}?limit=3&after_id={cursor['id']}")
    assert [u["username"] for u in page["users"]] == expected[3:6]


async def test_member_lists_only_itself(client: Client) -> None:
    """GET /users is filtered by user:read: a member sees only itself."""
    d = await first_user(client)
    member = await another_user(d)
    status, page = await member.call("GET", USERS)
    assert status == 200 and [u["id"] for u in page["users"]] == [member.user_id]
    assert page["count"] == 1


async def test_user_organizations(client: Client) -> None:
    """GET /users/{user}/organizations: the user's, as codersdk.Organization."""
    d = await first_user(client)
    status, orgs = await d.owner.call("GET", f"{USERS}/me/organizations")
    assert status == 200
    assert [(o["id"], o["name"], o["is_default"]) for o in orgs] == [(d.org, "coder", True)]
    assert set(orgs[0]) == {
        "id",
        "name",
        "display_name",
        "description",
        "icon",
        "created_at",
        "updated_at",
        "is_default",
    }
    _ = ORGS
