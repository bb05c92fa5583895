"""The Redis key schema: every key the service writes is built here.

Hash tags (`{...}`) put keys that change together in one Cluster slot:
- the user directory (records and the email/username indexes) shares `{u}`, so that creating a
  user is one atomic script; it is a small, durable data set;
- a session row is tagged by its key id, and a user's token names by the user id;
- the counters of one rate-limit bucket share the bucket's tag.

Durable records (users, organizations) have no TTL; everything else does.
"""

from __future__ import annotations

import hashlib

from service.auth.addresses import address_key, username_key

PREFIX = "authsvc"
_USERS = f"{PREFIX}:{{u}}"


def user(user_id: str) -> str:
    """Hash: one user record (durable). Its `session_epoch` field is raised by the session
    store alone (store/sessions.py), when all of the user's sessions are revoked."""
    return f"{_USERS}:user:{user_id}"


def user_by_email(email: str) -> str:
    """String: the address's key (NFKC, lower-cased; see auth/addresses) -> user id (durable)."""
    return f"{_USERS}:email:{address_key(email)}"


def user_by_username(username: str) -> str:
    """String: ASCII-lower-cased username -> user id (durable)."""
    return f"{_USERS}:username:{username_key(username)}"


def user_ids() -> str:
    """Set: every user id (durable)."""
    return f"{_USERS}:ids"


def default_org() -> str:
    """String: the default organization id, created once per deployment (durable)."""
    return f"{_USERS}:default-org"


def user_prefix() -> str:
    """What every user record's key starts with (scripts that visit every user append ids)."""
    return f"{_USERS}:user:"


def org(org_id: str) -> str:
    """Hash: one organization (durable). Memberships live on the user records (`org:<id>`)."""
    return f"{_USERS}:org:{org_id}"


def membership_field(org_id: str) -> str:
    """The field of a user record (`user`) that holds one organization membership."""
    return f"org:{org_id}"


def org_by_name(name: str) -> str:
    """String: ASCII-lower-cased organization name -> organization id (durable)."""
    return f"{_USERS}:org-name:{name.lower()}"


def org_ids() -> str:
    """Set: every organization id (durable)."""
    return f"{_USERS}:org-ids"


def session(key_id: str) -> str:
    """String: one session or token (store/sessions.py packs it); TTL = a day past its
    expiry."""
    return f"{PREFIX}:session:{{{key_id}}}"


def user_tokens(user_id: str) -> str:
    """Hash: a user's API token names -> key ids (names are unique per user); TTL = the
    longest of the maximum session lifetime and its tokens' lifetimes, plus a day."""
    return f"{PREFIX}:user-tokens:{{{user_id}}}"


def rate_tag(*parts: str) -> str:
    """The hash tag of one rate-limit bucket (hashed: parts may hold anything)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def rate_counter(tag: str, name: str) -> str:
    """Sorted set: request times in the window; TTL = the window."""
    return f"{PREFIX}:rl:{{{rate_tag(tag)}}}:{name}"


def otp(user_id: str) -> str:
    """Hash: a user's live one-time passcodes (keyed MAC -> expiry); TTL = the latest expiry."""
    return f"{PREFIX}:otp:{{{user_id}}}"


_OUTBOX = f"{PREFIX}:{{outbox}}"


def outbox_stream() -> str:
    """Stream: queued jobs, consumed by the `workers` group (durable; entries deleted when done)."""
    return f"{_OUTBOX}:stream"


def outbox_retry() -> str:
    """Sorted set: jobs waiting for their next attempt, scored by due time (durable queue)."""
    return f"{_OUTBOX}:retry"


def outbox_dead() -> str:
    """List: jobs that ran out of attempts, newest first, capped; TTL 7 days."""
    return f"{_OUTBOX}:dead"


def outbox_done(job_id: str) -> str:
    """String: marks a job done so a reclaimed copy is not run again; TTL 1 day."""
    return f"{_OUTBOX}:done:{job_id}"


def user_link(provider: str, subject: str) -> str:
    """String: an external identity (provider, subject) -> user id (durable)."""
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"{_USERS}:link:{provider}:{digest}"


def deployment_id() -> str:
    """String: this deployment's id, the issuer of conversion cookies (durable)."""
    return f"{_USERS}:deployment-id"


def audit_stream() -> str:
    """Stream: the audit trail (durable, capped at AUDIT_MAX_ENTRIES by trimming)."""
    return f"{PREFIX}:audit"


def changes_channel() -> str:
    """Pub/sub channel: `user:<id>` / `session:<key id>` changed (cache eviction)."""
    return f"{PREFIX}:changes"


def one_time(kind: str, state: str) -> str:
    """Hash: a one-time record (OAuth flow, conversion state); TTL = its lifetime."""
    return f"{PREFIX}:{kind}:{{{state}}}"


def registered_object(resource_type: str, resource_id: str) -> str:
    """Hash: a registered object (owner, organization, ACL) (durable)."""
    return f"{_USERS}:object:{resource_type}:{resource_id}"


def org_objects(org_id: str) -> str:
    """Set: `type:id` of the objects registered in an organization (durable)."""
    return f"{_USERS}:org-objects:{org_id}"


def acl_user_objects(user_id: str) -> str:
    """Set: `type:id` of the objects whose ACL names a user (durable; for its deletion)."""
    return f"{_USERS}:acl-user:{user_id}"


def group(group_id: str) -> str:
    """Hash: a group of an organization (durable)."""
    return f"{_USERS}:group:{group_id}"


def group_members(group_id: str) -> str:
    """Set: a group's member ids (durable)."""
    return f"{_USERS}:group-members:{group_id}"


def user_groups(user_id: str) -> str:
    """Set: the ids of the groups a user belongs to (durable)."""
    return f"{_USERS}:user-groups:{user_id}"


def org_groups(org_id: str) -> str:
    """Set: an organization's group ids (durable)."""
    return f"{_USERS}:org-groups:{org_id}"


def group_by_name(org_id: str, name: str) -> str:
    """String: a group name in an organization -> group id (durable; names are unique there)."""
    return f"{_USERS}:group-name:{org_id}:{name}"
