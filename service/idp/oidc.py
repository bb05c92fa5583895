"""A standard OpenID Connect provider: discovery, authorization code + PKCE, ID token checks."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any, Literal
from urllib.parse import quote, urlencode

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from service.auth.signin import ExternalIdentity
from service.errors import ApiError

log = logging.getLogger(__name__)

_SIGNING_ALGS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


def _upstream(message: str, detail: str) -> ApiError:
    return ApiError(500, message, detail)


class DiscoveryMismatch(Exception):
    """The issuer answered, but its discovery document is not for OIDC_ISSUER_URL."""


class ProviderUnreachable(Exception):
    """The issuer's discovery document could not be fetched (yet)."""


_REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")
DISCOVERY_TIMEOUT = 5.0


class OidcProvider:
    """IdentityProvider for any standard OIDC issuer."""

    name: Literal["oidc"] = "oidc"

    def __init__(
        self,
        http: aiohttp.ClientSession,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scopes: str,
        ignore_email_verified: bool = False,
    ) -> None:
        self._ignore_email_verified = ignore_email_verified
        self._http = http
        self._issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._redirect_uri = redirect_uri
        self._scopes = scopes
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = 0.0

    async def _get_json(self, url: str, **kwargs: Any) -> Any:
        try:
            async with self._http.get(url, **kwargs) as resp:
                if resp.status != 200:
                    raise _upstream(
                        "Failed to reach the identity provider.", f"{url}: {resp.status}"
                    )
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise _upstream("Failed to reach the identity provider.", f"{url}: {exc}") from None

    async def discover(self) -> None:
        """Fetch and check the discovery document once.

        Raises DiscoveryMismatch when the issuer answers with a document that is not its own
        (a wrong OIDC_ISSUER_URL: fatal at start-up), ProviderUnreachable when it cannot be
        fetched (start anyway and keep trying).
        """
        url = f"{self._issuer}/.well-known/openid-configuration"
        try:
            # A silent provider must hold neither start-up nor a sign-in for long.
            async with asyncio.timeout(DISCOVERY_TIMEOUT), self._http.get(url) as resp:
                if resp.status != 200:
                    raise ProviderUnreachable(f"{url}: HTTP {resp.status}")
                doc = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnreachable(f"{url}: {exc or type(exc).__name__}") from None
        except ValueError:
            raise DiscoveryMismatch(f"{url} is not a JSON discovery document") from None
        if not isinstance(doc, dict):
            raise DiscoveryMismatch(f"{url} is not a JSON discovery document")
        issuer = str(doc.get("issuer", ""))
        if issuer.rstrip("/") != self._issuer:
            raise DiscoveryMismatch(f"the provider at {url} says its issuer is {issuer!r}")
        missing = [name for name in _REQUIRED if not isinstance(doc.get(name), str)]
        if missing:
            raise DiscoveryMismatch(f"{url} lacks {', '.join(missing)}")
        self._discovery = doc

    @property
    def discovered(self) -> bool:
        """True once a valid discovery document was fetched."""
        return self._discovery is not None

    async def _config(self) -> dict[str, Any]:
        if self._discovery is None:
            try:
                await self.discover()
            except (ProviderUnreachable, DiscoveryMismatch) as exc:
                log.warning("OIDC discovery failed: %s", exc)
                raise ApiError(
                    503,
                    "The identity provider is not available. Try again shortly.",
                    str(exc),
                    headers={"Retry-After": "5"},
                ) from None
        assert self._discovery is not None
        return self._discovery

    async def _key_set(self, refresh: bool = False) -> KeySet:
        # Refetched at most once a minute when an unknown key id shows up (key rotation).
        if self._keys is None or (refresh and time.monotonic() - self._keys_fetched > 60):
            jwks = await self._get_json((await self._config())["jwks_uri"])
            self._keys = KeySet.import_key_set(jwks)
            self._keys_fetched = time.monotonic()
        return self._keys

    async def authorize_url(self, state: str, code_challenge: str, nonce: str) -> str:
        config = await self._config()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": self._redirect_uri,
                "scope": self._scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{config['authorization_endpoint']}?{query}"

    async def exchange(self, code: str, code_verifier: str, nonce: str) -> ExternalIdentity:
        config = await self._config()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._redirect_uri,
            "code_verifier": code_verifier,
        }
        # client_secret_basic: RFC 6749 §2.3.1 form-encodes both parts before Base64.
        pair = f"{quote(self._client_id, safe='')}:{quote(self._client_secret, safe='')}"
        headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        try:
            async with self._http.post(
                config["token_endpoint"], data=form, headers=headers
            ) as resp:
                tokens = await resp.json(content_type=None)
                if resp.status != 200 or not isinstance(tokens, dict):
                    raise ApiError(
                        500, "Failed exchanging Oauth code.", f"token endpoint: {resp.status}"
                    )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ApiError(500, "Failed exchanging Oauth code.", str(exc)) from None
        claims = await self._verify_id_token(str(tokens.get("id_token", "")), nonce)
        if "email" not in claims and config.get("userinfo_endpoint"):
            headers = {"Authorization": f"Bearer {tokens.get('access_token', '')}"}
            info = await self._get_json(config["userinfo_endpoint"], headers=headers)
            if isinstance(info, dict) and info.get("sub") == claims["sub"]:
                claims = {**info, **claims}
        email = str(claims.get("email", ""))
        if not email:
            raise ApiError(400, "The identity provider did not supply an email address.")
        return ExternalIdentity(
            provider="oidc",
            subject=str(claims["sub"]),
            email=email,
            # Only a JSON `true` verifies an address: "true", 1 or a missing claim do not (Coder
            # trusts anything but `false`). OIDC_IGNORE_EMAIL_VERIFIED is for providers that
            # never send the claim.
            email_verified=self._ignore_email_verified or claims.get("email_verified") is True,
            username=str(claims.get("preferred_username", "")),
            name=str(claims.get("name", "")),
        )

    async def _verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        if not id_token:
            raise ApiError(500, "Failed exchanging Oauth code.", "no id_token in the response")
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(), algorithms=_SIGNING_ALGS)
            except JoseError:
                token = jwt.decode(id_token, await self._key_set(True), algorithms=_SIGNING_ALGS)
            registry = jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": (await self._config())["issuer"]},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise ApiError(401, "The identity provider's ID token is invalid.", str(exc)) from None
        audience = token.claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._client_id not in audiences:
            raise ApiError(401, "The identity provider's ID token is invalid.", "wrong audience")
        if len(audiences) > 1 and token.claims.get("azp") != self._client_id:
            raise ApiError(401, "The identity provider's ID token is invalid.", "wrong azp")
        return dict(token.claims)
