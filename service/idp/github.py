"""GitHub (or GitHub Enterprise) OAuth sign-in."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp

from service.auth.signin import ExternalIdentity
from service.errors import ApiError


class GithubProvider:
    """IdentityProvider for GitHub: authorize, exchange, then /user and /user/emails."""

    name: Literal["github"] = "github"

    def __init__(
        self,
        http: aiohttp.ClientSession,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        base_url: str,
        api_url: str,
    ) -> None:
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._redirect_uri = redirect_uri
        self._base = base_url.rstrip("/")
        self._api = api_url.rstrip("/")

    async def authorize_url(self, state: str, code_challenge: str, nonce: str) -> str:
        query = urlencode(
            {
                "client_id": self._client_id,
                "redirect_uri": self._redirect_uri,
                "scope": "read:user user:email",
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self._base}/login/oauth/authorize?{query}"

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            async with self._http.request(method, url, **kwargs) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200:
                    raise ApiError(500, "Failed exchanging Oauth code.", f"{url}: {resp.status}")
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ApiError(500, "Failed exchanging Oauth code.", f"{url}: {exc}") from None

    async def exchange(self, code: str, code_verifier: str, nonce: str) -> ExternalIdentity:
        tokens = await self._call(
            "POST",
            f"{self._base}/login/oauth/access_token",
            data={
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "code": code,
                "redirect_uri": self._redirect_uri,
                "code_verifier": code_verifier,
            },
            headers={"Accept": "application/json"},
        )
        access = tokens.get("access_token") if isinstance(tokens, dict) else None
        if not access:
            raise ApiError(500, "Failed exchanging Oauth code.", "no access_token in the response")
        headers = {"Authorization": f"Bearer {access}", "Accept": "application/vnd.github+json"}
        user = await self._call("GET", f"{self._api}/user", headers=headers)
        emails = await self._call("GET", f"{self._api}/user/emails", headers=headers)
        primary = (
            next((e for e in emails if isinstance(e, dict) and e.get("primary")), None)
            if isinstance(emails, list)
            else None
        )
        if primary is None or not primary.get("email"):
            raise ApiError(400, "Your GitHub account has no primary email address.")
        return ExternalIdentity(
            provider="github",
            subject=str(user["id"]),
            email=str(primary["email"]),
            email_verified=primary.get("verified") is True,
            username=str(user.get("login", "")),
            name=str(user.get("name") or ""),
        )
