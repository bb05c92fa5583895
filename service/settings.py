"""Every setting of the service, typed, from `AUTHSVC_<NAME>` environment variables or flags."""

from __future__ import annotations

import ipaddress
import os
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.auth.policy import entropy

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """``600``, ``10m``, ``24h``, ``30d`` -> seconds. Other values go to pydantic unchanged."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError("expected seconds or a number with an s/m/h/d suffix, e.g. 10m")
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
# Page colours go into a stylesheet: only plain hex colours are accepted.
Color = Annotated[str, Field(pattern=r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")]
Networks = Annotated[
    tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    NoDecode,
    BeforeValidator(_split_commas),
]

MEMORY_URL = "memory://"
SECRET_KEY_MIN_LENGTH = 16
SECRET_KEY_MIN_DISTINCT = 8
SECRET_KEY_MIN_BITS = 64.0


def secret_key_problem(secret: str) -> str | None:
    """Why `secret` is too weak to key HMACs and cookies, or None.

    Beyond a minimum length, a key must not be a repeated or sequential string
    ("aaaaaaaaaaaaaaaa", "0123456789abcdef", "abcabcabcabcabca"): it needs several distinct
    characters and, by the password-strength estimate (which discounts repeats and keyboard or
    alphabet runs), at least 64 bits.
    """
    if len(secret) < SECRET_KEY_MIN_LENGTH:
        return f"must be at least {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(secret)) < SECRET_KEY_MIN_DISTINCT or entropy(secret) < SECRET_KEY_MIN_BITS:
        return (
            "is too predictable (repeated or sequential characters); use a random value, "
            "e.g. openssl rand -hex 32"
        )
    return None


class SettingsError(Exception):
    """A setting has a bad value; the message is one line naming it."""


class Settings(BaseSettings):
    """The service's configuration. See the README's settings table for each entry."""

    model_config = SettingsConfigDict(env_prefix="AUTHSVC_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = ""
    redis_url: str = MEMORY_URL
    redis_timeout: Duration = 2.0
    # Unset: the baseline policy shipped in the package (service/baseline, a copy of config/).
    config_dir: Path | None = None
    secret_key: SecretStr | None = None
    session_duration: Duration = 24 * 3600
    session_max_lifetime: Duration = 30 * 86400
    # API tokens: Coder's --max-token-lifetime (876600h: 100 years and 25 leap days) and
    # --default-token-lifetime (168h).
    max_token_lifetime: Duration = 876600 * 3600
    default_token_lifetime: Duration = 7 * 86400
    login_rate_limit: int = Field(60, ge=-1)
    api_rate_limit: int = Field(512, ge=-1)
    login_failure_limit: int = Field(10, ge=-1)
    login_failure_window: Duration = 15 * 60
    login_account_failure_limit: int = Field(100, ge=-1)
    device_cookie_lifetime: Duration = 90 * 86400
    disable_password_auth: bool = False
    # Unset: follows PUBLIC_URL's scheme (https -> Secure).
    secure_auth_cookie: bool | None = None
    validate_password_anonymous: bool = False
    trusted_proxies: Networks = ()
    # Origins besides PUBLIC_URL's whose pages may send unsafe requests (comma-separated).
    trusted_origins: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)] = ()
    # Per-client budgets key an IPv6 client by its network: one subscriber owns a whole /64.
    ipv6_prefix_length: int = Field(64, ge=32, le=128)
    policy_watch_interval: float = Field(0.0, ge=0)
    max_body_size: int = Field(64 * 1024, ge=1024)
    public_max_body_size: int = Field(4 * 1024, ge=1024)
    request_head_timeout: Duration = 10
    request_body_timeout: Duration = 10
    argon2_memory_cost: int = Field(19456, ge=8)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1)
    hash_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    # How far below the event loop the hashing threads run (Linux nice steps; 0: equal).
    hash_nice: int = Field(10, ge=0, le=19)
    # While the event loop uses more than this share of a core, hashing uses one thread fewer
    # (at least one), leaving a core to every other request; 1: never.
    hash_loop_busy: float = Field(0.25, gt=0, le=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    shutdown_timeout: Duration = 30
    reuse_port: bool = False
    session_cache_ttl: float = Field(1.0, ge=0)
    audit_max_entries: int = Field(100_000, ge=1000)
    product_name: str = "Coder"
    brand_color: Color = "#2563eb"
    brand_text_color: Color = "#ffffff"
    background_color: Color = "#f3f4f6"
    surface_color: Color = "#ffffff"
    text_color: Color = "#111827"
    muted_color: Color = "#4b5563"
    danger_color: Color = "#b91c1c"
    otp_ttl: Duration = 10 * 60
    otp_max_attempts: int = Field(5, ge=1)
    otp_request_limit: int = Field(3, ge=-1)
    otp_request_window: Duration = 15 * 60
    otp_address_limit: int = Field(10, ge=-1)
    smtp_host: str = ""
    # Development only: without SMTP_HOST outside the embedded mode, print mail (reset codes
    # included) to the log instead of refusing to start.
    dev_mail_to_log: bool = False
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_connect_timeout: Duration = 10
    smtp_timeout: Duration = 30
    mail_from: str = "Coder <noreply@localhost>"
    mail_max_attempts: int = Field(100, ge=1)
    # A reset code is wanted now: after an outage, mail goes out within 30 s of SMTP's return.
    mail_retry_max_delay: Duration = 30
    outbox_claim_after: Duration = 120
    oidc_issuer_url: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid email profile"
    oidc_allow_signups: bool = True
    # The login page's OIDC button, as Coder's --oidc-sign-in-text and --oidc-icon-url.
    oidc_sign_in_text: str = "OpenID Connect"
    oidc_icon_url: str = ""
    # Coder's --oidc-ignore-email-verified: for providers that never send `email_verified`.
    oidc_ignore_email_verified: bool = False
    github_client_id: str = ""
    github_client_secret: SecretStr | None = None
    github_base_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    github_allow_signups: bool = False

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (problem := secret_key_problem(value.get_secret_value())):
            raise ValueError(problem)
        return value

    def serving_problem(self) -> str | None:
        """Why `serve` must refuse these settings, or None.

        Checked when the service starts rather than when settings load, so that the `users`,
        `mail` and `audit` commands, which key nothing, need only AUTHSVC_REDIS_URL.
        """
        if not self.embedded and self.secret_key is None:
            return (
                "AUTHSVC_SECRET_KEY is required when AUTHSVC_REDIS_URL is not memory:// "
                "(every replica must share it)"
            )
        return self.mail_transport_problem()

    def mail_transport_problem(self) -> str | None:
        """Why serving with these settings would leak mail to the log, or None."""
        if self.embedded or self.smtp_host or self.dev_mail_to_log:
            return None
        return (
            "AUTHSVC_SMTP_HOST is required when AUTHSVC_REDIS_URL is not memory:// (reset "
            "codes would go to the log); set AUTHSVC_DEV_MAIL_TO_LOG=true to print mail to "
            "the log on purpose (development only)"
        )

    @property
    def cookies_secure(self) -> bool:
        """Whether cookies get `Secure`: SECURE_AUTH_COOKIE, else PUBLIC_URL is https."""
        if self.secure_auth_cookie is not None:
            return self.secure_auth_cookie
        return self.base_url.lower().startswith("https://")

    @property
    def policy_dir(self) -> Path:
        """Where resources.yaml, scopes.yaml and roles.yaml are read from."""
        if self.config_dir is not None:
            return self.config_dir
        return Path(str(resources.files("service.baseline")))

    @property
    def embedded(self) -> bool:
        """True when running on the in-process store."""
        return self.redis_url == MEMORY_URL

    @property
    def base_url(self) -> str:
        """The URL clients use to reach the service (PUBLIC_URL, else host:port)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment and overrides. Raises SettingsError (one line)."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(part) for part in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:
            raise SettingsError(f"invalid settings: {msg}") from None
        name = loc[0]
        raise SettingsError(
            f"invalid setting AUTHSVC_{name.upper()} (--{name.replace('_', '-')}): {msg}"
        ) from None
