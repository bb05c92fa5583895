"""Converting a password user to OIDC or GitHub login (spec §2.7 and §6).

`start` checks the password like login and signs a JWT (HS512, key derived from SECRET_KEY so
that any replica can verify it) that travels in the `coder_oauth_convert_jwt` cookie; the state
is also recorded in the store with the same lifetime, so that it can be spent once. `verify`
checks that cookie when the provider's callback comes back, with Coder's messages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from joserfc import jwt
from joserfc.errors import BadSignatureError, DecodeError, JoseError, MissingKeyError
from joserfc.jwk import OctKey

from service.auth.login import LoginClient, LoginService
from service.auth.users import User, UserStore
from service.clock import Clock
from service.errors import ApiError

CONVERT_TTL: Final = 300
STATE_PREFIX: Final = "convert-"
CONVERT_COOKIE: Final = "coder_oauth_convert_jwt"
KIND: Final = "convert"
_ALPHABET: Final = string.ascii_letters + string.digits
_ALG: Final = "HS512"


class OneTimeStore(Protocol):
    """Short-lived records taken exactly once."""

    async def put(self, kind: str, state: str, record: Mapping[str, str], ttl: float) -> bool:
        """Store a new record; False (and nothing written) if `state` is already live."""
        ...

    async def exists(self, kind: str, state: str) -> bool: ...

    async def take(self, kind: str, state: str) -> dict[str, str] | None: ...


@dataclass(frozen=True)
class ConversionStarted:
    """What POST /convert-login answers, and the cookie it sets."""

    state: str
    expires_at: int
    to_type: str
    user_id: str
    cookie: str


def derive_key(secret: str) -> tuple[str, OctKey]:
    """The conversion-cookie signing key (and its id), derived from SECRET_KEY."""
    raw = hmac.new(secret.encode(), b"authsvc/oidc-convert/v1", hashlib.sha512).digest()
    return hashlib.sha256(raw).hexdigest()[:16], OctKey.import_key(raw)


def is_conversion(state: str) -> bool:
    """True for states made by convert-login."""
    return state.startswith(STATE_PREFIX)


class LoginConversion:
    """Starts conversions and checks them when the provider calls back."""

    def __init__(
        self,
        users: UserStore,
        login: LoginService,
        states: OneTimeStore,
        secret: str,
        clock: Clock,
    ) -> None:
        self._users = users
        self._login = login
        self._states = states
        self._key_id, self._key = derive_key(secret)
        self._clock = clock

    async def start(
        self, target: User, to_type: str, password: str, client: LoginClient
    ) -> ConversionStarted:
        """POST /users/{user}/convert-login. Raises ApiError with Coder's messages."""
        if to_type in ("password", "none", "token"):
            raise ApiError(400, f'Cannot convert to login type "{to_type}".')
        if to_type not in ("github", "oidc"):
            raise ApiError(400, f'Unknown login type "{to_type}".')
        # The same checks as login, for the *target's* email (401/403 unchanged).
        user = await self._login.check_credentials(target.email, password, client)
        if user.login_type != "password":  # pragma: no cover - check_credentials refuses first
            raise ApiError(400, "User account must have password based authentication.")
        state = STATE_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(32))
        now = int(self._clock())
        expires_at = now + CONVERT_TTL
        claims = {
            "iss": await self._users.deployment_id(),
            "sub": state,
            "aud": [user.id],
            "exp": expires_at,
            "nbf": now - 1,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "user_id": user.id,
            "state": state,
            "from_login_type": "password",
            "to_login_type": to_type,
        }
        token = jwt.encode({"alg": _ALG, "kid": self._key_id}, claims, self._key, algorithms=[_ALG])
        await self._states.put(KIND, state, {"user_id": user.id}, CONVERT_TTL)
        return ConversionStarted(state, expires_at, to_type, user.id, token)

    async def check_merge_state(self, state: str, cookie: str | None) -> None:
        """Refuse an `oidc_merge_state` that is not this browser's live conversion.

        A provider flow may take a caller-chosen state only when it is a conversion state that
        is still live and that the caller's own convert cookie (signed, HttpOnly, set by
        convert-login in this browser) names; otherwise anyone could plant their own flow in a
        victim's browser (login CSRF). The cookie checks are Coder's own, with its messages
        (spec §6), made when the flow starts as well as when it comes back. Raises ApiError.
        """
        if not is_conversion(state):
            raise ApiError(
                400,
                "The login type conversion is not valid in this browser. Start it again.",
                "oidc_merge_state must be a live conversion started in this browser.",
            )
        await self._check_cookie(state, cookie)
        if not await self._states.exists(KIND, state):
            raise ApiError(403, "Request to convert login type failed. State already used.")

    async def _check_cookie(self, state: str, cookie: str | None) -> dict[str, Any]:
        """The convert cookie's claims, if it is this deployment's and names `state`."""
        if not cookie:
            raise ApiError(
                400,
                "Convert to oauth cookie not found. Missing signed jwt to authorize this action. "
                "Please try again.",
            )
        claims = self._decode(cookie)
        if claims.get("iss") != await self._users.deployment_id():
            raise ApiError(
                403,
                "Request to convert login type failed. Issuer mismatch. Found a cookie from "
                "another coder deployment, please try again.",
            )
        if not hmac.compare_digest(str(claims.get("state", "")).encode(), state.encode()):
            raise ApiError(403, "Request to convert login type failed. State mismatch.")
        return claims

    async def verify(
        self, user: User | None, provider: str, email: str, state: str, cookie: str | None
    ) -> User:
        """Coder's convertUserToOauth checks, in its order; spends the state. Raises ApiError."""
        if user is None:
            raise ApiError(
                400,
                f'The {provider} account with the email "{email}" does not match the email of '
                "the account you are trying to convert. Contact your administrator to resolve "
                "this issue.",
            )
        claims = await self._check_cookie(state, cookie)
        if (
            claims.get("user_id") != user.id
            or claims.get("from_login_type") != user.login_type
            or claims.get("to_login_type") != provider
        ):
            raise ApiError(
                403, f"Request to convert login type from {user.login_type} to {provider} failed"
            )
        # Spent here: a second callback with the same state cannot convert again.
        if await self._states.take(KIND, state) is None:
            raise ApiError(403, "Request to convert login type failed. State already used.")
        return user

    def _decode(self, cookie: str) -> dict[str, Any]:
        try:
            token = jwt.decode(cookie, self._key, algorithms=[_ALG])
        except (BadSignatureError, MissingKeyError):
            raise ApiError(
                400,
                "Using an invalid jwt to authorize this action. Ensure there is only 1 coder "
                "deployment and try again.",
            ) from None
        except (DecodeError, JoseError, ValueError) as exc:
            raise ApiError(500, f"Error parsing jwt: {exc}") from None
        if token.header.get("kid") != self._key_id:
            raise ApiError(
                400,
                "Using an invalid jwt to authorize this action. Ensure there is only 1 coder "
                "deployment and try again.",
            )
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()), leeway=0, exp={"essential": True}, nbf={"essential": False}
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise ApiError(500, f"Error parsing jwt: {exc}") from None
        return dict(token.claims)
