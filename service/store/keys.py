"""The Redis key schema: every key the service writes is built here.

Hash tags (`{...}`) put keys that change together in one Cluster slot:
- the user directory (records and the email/username indexes) shares `{u}`, so that creating a
  user is one atomic script; it is a small, durable data set;
- a session row is tagged by its key id, and a user's session index by the user id;
- the counters of one rate-limit bucket share the bucket's tag.

Durable records (users, the default org) have no TTL; everything else does.
"""

from __future__ import annotations

import hashlib

PREFIX = "authsvc"
_USERS = f"{PREFIX}:{{u}}"


def user(user_id: str) -> str:
    """Hash: one user record (durable)."""
    return f"{_USERS}:user:{user_id}"


def user_by_email(email: str) -> str:
    """String: lower-cased email -> user id (durable)."""
    return f"{_USERS}:email:{email.lower()}"


def user_by_username(username: str) -> str:
    """String: lower-cased username -> user id (durable)."""
    return f"{_USERS}:username:{username.lower()}"


def user_ids() -> str:
    """Set: every user id (durable)."""
    return f"{_USERS}:ids"


def default_org() -> str:
    """String: the default organization id, created once per deployment (durable)."""
    return f"{_USERS}:default-org"


def session(key_id: str) -> str:
    """Hash: one session; TTL = its expiry."""
    return f"{PREFIX}:session:{{{key_id}}}"


def user_sessions(user_id: str) -> str:
    """Set: a user's session ids; TTL = the longest session lifetime."""
    return f"{PREFIX}:user-sessions:{{{user_id}}}"


def rate_tag(*parts: str) -> str:
    """The hash tag of one rate-limit bucket (hashed: parts may hold anything)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def rate_counter(tag: str, name: str) -> str:
    """Sorted set: request times in the window; TTL = the window."""
    return f"{PREFIX}:rl:{{{tag}}}:{name}"
