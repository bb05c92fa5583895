"""Who is calling: a verified session and its active user (Coder's apiKeyMiddleware)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from service.auth.sessions import Session, SessionManager, signed_out
from service.auth.users import User, UserStore
from service.errors import ApiError


@dataclass(frozen=True)
class Actor:
    """The authenticated caller."""

    user: User
    session: Session


class Authenticator:
    """Turns a session token into an Actor, or raises ApiError 401."""

    def __init__(self, sessions: SessionManager, users: UserStore) -> None:
        self._sessions = sessions
        self._users = users

    async def authenticate(self, token: str) -> Actor:
        """Verify the token, load the user, apply Coder's status rules."""
        session, refreshed = await self._sessions.verify(token)
        user = await self._users.get(session.user_id)
        if user is None or session.created_at < user.sessions_valid_after:
            # The user is gone, or revoked every session since this one was made.
            await self._sessions.revoke(session)
            raise signed_out("API key is invalid.")
        updates: dict[str, object] = {}
        if refreshed:
            # Written with the hourly session refresh, as Coder does.
            updates["last_seen_at"] = session.last_used
        if user.status == "dormant":
            updates["status"] = "active"  # silently reactivated, as Coder does
        if updates:
            await self._users.update(user.id, **updates)
            user = replace(user, **updates)  # type: ignore[arg-type]
        if user.status != "active":
            raise ApiError(
                401,
                f'User is not active (status = "{user.status}"). '
                "Contact an admin to reactivate your account.",
            )
        return Actor(user=user, session=session)
