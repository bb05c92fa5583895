"""create_app: the one place where settings, adapters and services are wired together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from service import keys
from service.api import admin, authz, meta, oauth, objects, openapi, otp, tokens, users
from service.api.batches import BatchReader
from service.auth.admin import Administration, AdminPolicy
from service.auth.convert import LoginConversion
from service.auth.devices import DeviceCookies
from service.auth.identity import Authenticator
from service.auth.login import LoginPolicy, LoginService
from service.auth.otp import MAIL_JOB, OTP_REQUEST_JOB, PasswordReset, ResetPolicy, derive_key
from service.auth.passwords import HashCapacity, PasswordHasher, Passwords, hashing_pool
from service.auth.ratelimit import LocalFirstLimiter
from service.auth.registry import Registry
from service.auth.sessions import SessionManager
from service.auth.signin import IdentityProvider, SignIn
from service.auth.tokens import TokenService, TokenSettings
from service.auth.users import UserDirectory
from service.authz.authcheck import AuthChecker, PolicyHolder, ResourceResolver
from service.authz.config import ConfigError
from service.authz.resources import load_resources
from service.authz.scopes import load_scopes
from service.clock import Clock, system_clock
from service.idp.github import GithubProvider
from service.idp.oidc import DiscoveryMismatch, OidcProvider, ProviderUnreachable
from service.logs import install_log_hygiene
from service.mail.mailer import ConsoleMailer, Mailer, SmtpConfig, SmtpMailer
from service.mail.worker import OutboxWorker, RetryPolicy, mail_job_handler
from service.metrics import Metrics
from service.middleware import serve_request, trusted_origins
from service.settings import Settings, SettingsError
from service.store.audit import RedisAuditLog
from service.store.changes import RedisChangeFeed
from service.store.objects import RedisObjectStore
from service.store.onetime import RedisOneTimeStore
from service.store.orgs import RedisOrgStore
from service.store.otp import RedisOtpStore
from service.store.outbox import RedisOutbox
from service.store.ratelimit import RedisRateLimiter
from service.store.redis import connect
from service.store.sessions import RedisSessionStore
from service.store.users import RedisUserStore
from service.web import pages
from service.web.renderer import Pages

log = logging.getLogger(__name__)


def _routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", pages.home_page)
    r.add_get("/login", pages.login_page)
    r.add_get("/reset-password", pages.reset_page)
    r.add_get("/reset-password/change", pages.change_page)
    r.add_get("/settings/tokens", pages.tokens_page)
    r.add_get("/static/{name}", pages.static_file)
    r.add_get("/favicon.ico", pages.favicon)
    r.add_get("/healthz", meta.healthz)
    r.add_get("/readyz", meta.readyz)
    r.add_get("/metrics", meta.metrics)
    r.add_get("/api/v2/auth/scopes", meta.scopes)
    r.add_get("/api/v2/openapi.json", openapi.openapi)
    r.add_post("/api/v2/users/login", users.login)
    r.add_post("/api/v2/users/logout", users.logout)
    r.add_get("/api/v2/users/me", users.me)
    r.add_get("/api/v2/users/roles", admin.site_roles)
    r.add_get("/api/v2/users", admin.list_users)
    r.add_post("/api/v2/users", admin.create_user)
    r.add_get("/api/v2/users/first", users.first_user_status)
    r.add_post("/api/v2/users/first", users.create_first_user)
    r.add_post("/api/v2/users/validate-password", users.validate_password)
    r.add_post("/api/v2/authcheck", authz.authcheck)
    r.add_post("/api/v2/users/otp/request", otp.request_code)
    r.add_post("/api/v2/users/otp/change-password", otp.change_password)
    r.add_post("/api/v2/users/{user}/convert-login", oauth.convert_login)
    # As in Coder's router (chi), a static path wins over `{user}` whatever the method, so
    # `GET /users/login` is a 405 rather than a lookup of the user named "login".
    one_user = "/api/v2/users/{user:(?!(?:first|login|logout|validate-password|roles)$)[^/]+}"
    r.add_get(one_user, admin.get_user)
    r.add_delete(one_user, admin.delete_user)
    r.add_put("/api/v2/users/{user}/profile", admin.update_profile)
    r.add_put("/api/v2/users/{user}/status/suspend", admin.suspend_user)
    r.add_put("/api/v2/users/{user}/status/activate", admin.activate_user)
    r.add_put("/api/v2/users/{user}/password", admin.change_password)
    r.add_get("/api/v2/users/{user}/roles", admin.user_roles)
    r.add_put("/api/v2/users/{user}/roles", admin.set_user_roles)
    r.add_get("/api/v2/users/{user}/organizations", admin.user_organizations)
    r.add_get("/api/v2/users/{user}/organizations/{organizationname}", admin.user_organization)
    r.add_post("/api/v2/authz/objects", objects.put_objects)
    one_object = "/api/v2/authz/objects/{resource_type}/{resource_id}"
    r.add_put(one_object, objects.put_object)
    r.add_get(one_object, objects.get_object)
    r.add_delete(one_object, objects.delete_object)
    user_keys = "/api/v2/users/{user}/keys"
    r.add_post(user_keys, tokens.create_session_key)
    r.add_get(user_keys + "/tokens", tokens.list_tokens)
    r.add_post(user_keys + "/tokens", tokens.create_token)
    r.add_get(user_keys + "/tokens/tokenconfig", tokens.token_config)
    r.add_get(user_keys + "/tokens/{name}", tokens.token_by_name)
    r.add_get(user_keys + "/{keyid}", tokens.key_by_id)
    r.add_delete(user_keys + "/{keyid}", tokens.delete_key)
    orgs = "/api/v2/organizations"
    r.add_get(orgs, admin.list_organizations)
    r.add_post(orgs, admin.create_organization)
    r.add_get(orgs + "/{organization}", admin.get_organization)
    r.add_patch(orgs + "/{organization}", admin.update_organization)
    r.add_delete(orgs + "/{organization}", admin.delete_organization)
    r.add_get(orgs + "/{organization}/members", admin.list_members)
    r.add_post(orgs + "/{organization}/groups", objects.create_group)
    r.add_get(orgs + "/{organization}/groups", objects.list_groups)
    r.add_get("/api/v2/groups/{group}", objects.get_group)
    r.add_patch("/api/v2/groups/{group}", objects.patch_group)
    r.add_delete("/api/v2/groups/{group}", objects.delete_group)
    r.add_get(orgs + "/{organization}/paginated-members", admin.paginated_members)
    r.add_get(orgs + "/{organization}/members/roles", admin.organization_roles)
    r.add_get(orgs + "/{organization}/members/{user}", admin.get_member)
    r.add_post(orgs + "/{organization}/members/{user}", admin.add_member)
    r.add_delete(orgs + "/{organization}/members/{user}", admin.remove_member)
    r.add_put(orgs + "/{organization}/members/{user}/roles", admin.set_member_roles)
    r.add_get("/api/v2/users/oidc/callback", oauth.oidc_callback)
    r.add_get("/api/v2/users/oauth2/github/callback", oauth.github_callback)


async def _state(app: web.Application) -> AsyncIterator[None]:
    """Open every external resource, build the services, and close it all on shutdown."""
    settings = app[keys.SETTINGS]
    clock = app[keys.CLOCK]
    resources = load_resources(settings.policy_dir / "resources.yaml")
    app[keys.RESOURCES] = resources
    app[keys.SCOPES] = load_scopes(settings.policy_dir / "scopes.yaml", resources)
    policies = PolicyHolder(settings.policy_dir, resources)
    app[keys.POLICIES] = policies
    log.info("policy loaded", extra={"policy_version": policies.current.version})

    redis = connect(settings.redis_url, settings.redis_timeout)
    pool = hashing_pool(settings.hash_workers, settings.hash_nice)
    try:
        hasher = PasswordHasher(
            settings.argon2_memory_cost, settings.argon2_time_cost, settings.argon2_parallelism
        )
        passwords = Passwords(
            hasher, pool, HashCapacity(settings.hash_workers, settings.hash_loop_busy)
        )
        changes = RedisChangeFeed(redis)
        user_store = RedisUserStore(redis, changes)
        sessions = SessionManager(
            RedisSessionStore(redis, settings.session_max_lifetime, changes),
            clock,
            settings.session_duration,
            settings.session_max_lifetime,
        )
        limiter = RedisRateLimiter(redis, clock)
        app[keys.REDIS] = redis
        app[keys.AUDIT] = RedisAuditLog(redis, settings.audit_max_entries)
        app[keys.PASSWORDS] = passwords
        app[keys.USERS] = user_store
        app[keys.DIRECTORY] = UserDirectory(user_store, clock)
        otp_store = RedisOtpStore(redis, clock)
        app[keys.SESSIONS] = sessions
        app[keys.LIMITER] = limiter
        api_limiter = LocalFirstLimiter(limiter)
        app[keys.API_LIMITER] = api_limiter
        object_store = RedisObjectStore(redis, changes)
        resolver = ResourceResolver(object_store, settings.session_cache_ttl)
        changes.subscribe(resolver.forget)
        app[keys.RESOLVER] = resolver
        app[keys.AUTHCHECK] = AuthChecker(policies, resolver)
        app[keys.ADMIN] = Administration(
            user_store,
            RedisOrgStore(redis, changes),
            app[keys.DIRECTORY],
            sessions,
            otp_store,
            passwords,
            policies,
            app[keys.AUDIT],
            limiter,
            AdminPolicy(
                disable_password_auth=settings.disable_password_auth,
                oidc_configured=bool(settings.oidc_issuer_url and settings.oidc_client_id),
                old_password_limit=settings.login_failure_limit,
                old_password_window=settings.login_failure_window,
            ),
            clock,
        )
        app[keys.ADMIN].cascade_to(object_store)
        app[keys.REGISTRY] = Registry(
            app[keys.ADMIN], object_store, user_store, app[keys.RESOURCES], clock
        )
        app[keys.TOKENS] = TokenService(
            app[keys.ADMIN],
            sessions,
            app[keys.SCOPES],
            user_store,
            TokenSettings(settings.max_token_lifetime, settings.default_token_lifetime),
        )
        authenticator = Authenticator(
            sessions,
            user_store,
            clock,
            settings.session_cache_ttl,
            scopes=app[keys.SCOPES],
            on_first_use=app[keys.TOKENS].first_used,
        )
        changes.subscribe(authenticator.forget)
        app[keys.AUTHENTICATOR] = authenticator
        assert settings.secret_key is not None  # create_app fills it in embedded mode
        devices = DeviceCookies(
            settings.secret_key.get_secret_value(), settings.device_cookie_lifetime
        )
        app[keys.DEVICES] = devices
        app[keys.LOGIN] = LoginService(
            user_store,
            passwords,
            sessions,
            limiter,
            LoginPolicy(
                settings.disable_password_auth,
                settings.login_failure_limit,
                settings.login_failure_window,
                settings.login_account_failure_limit,
            ),
            clock,
            app[keys.METRICS],
            devices,
        )
        outbox = RedisOutbox(redis)
        reset = PasswordReset(
            user_store,
            passwords,
            sessions,
            otp_store,
            outbox,
            limiter,
            derive_key(settings.secret_key.get_secret_value()),
            ResetPolicy(
                ttl=settings.otp_ttl,
                max_attempts=settings.otp_max_attempts,
                request_limit=settings.otp_request_limit,
                request_window=settings.otp_request_window,
                address_limit=settings.otp_address_limit,
                product=settings.product_name,
                public_url=settings.base_url,
            ),
            clock,
            app[keys.METRICS],
        )
        worker = OutboxWorker(
            outbox,
            {
                OTP_REQUEST_JOB: reset.issue,
                MAIL_JOB: mail_job_handler(_mailer(settings), settings.mail_from, clock),
            },
            consumer=f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}",
            policy=RetryPolicy(
                max_attempts=settings.mail_max_attempts,
                max_delay=settings.mail_retry_max_delay,
                claim_after=settings.outbox_claim_after,
            ),
            clock=clock,
            block_ms=int(min(1.0, settings.redis_timeout / 2) * 1000),
        )
        one_time = RedisOneTimeStore(redis)
        conversion = LoginConversion(
            user_store, app[keys.LOGIN], one_time, settings.secret_key.get_secret_value(), clock
        )
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        app[keys.ONE_TIME] = one_time
        app[keys.CONVERSION] = conversion
        app[keys.PROVIDERS] = _providers(settings, http)
        try:
            discovery_task = await _check_oidc(app[keys.PROVIDERS].get("oidc"))
        except SettingsError:
            await http.close()
            raise
        app[keys.SIGNIN] = SignIn(
            user_store,
            app[keys.DIRECTORY],
            sessions,
            conversion,
            {"oidc": settings.oidc_allow_signups, "github": settings.github_allow_signups},
            clock,
        )
        app[keys.OUTBOX] = outbox
        app[keys.RESET] = reset
        app[keys.OUTBOX_WORKER] = worker
        worker_task = asyncio.create_task(worker.run(), name="outbox-worker")
        feed_task = asyncio.create_task(changes.run(), name="change-feed")
        capacity_task = asyncio.create_task(passwords.capacity.watch(), name="hash-capacity")
        # Everything alive now lives as long as the process: keep the cycle collector from
        # rescanning it on every collection (cuts p99 under load; see bench/).
        gc.collect()
        gc.freeze()
        try:
            async with _policy_reloading(policies, settings.policy_watch_interval):
                yield
        finally:
            changes.stop()
            capacity_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await capacity_task
            if discovery_task is not None:
                discovery_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await discovery_task
            try:
                await asyncio.wait_for(feed_task, timeout=5)
            except TimeoutError:
                log.error("change feed did not stop in time")
            await http.close()
            await api_limiter.close()
            worker.stop()
            try:
                await asyncio.wait_for(worker_task, timeout=settings.smtp_timeout + 5)
            except TimeoutError:
                log.error("outbox worker did not stop in time; its job will be reclaimed")
    finally:
        await redis.aclose()
        pool.shutdown(wait=True, cancel_futures=True)


async def _check_oidc(provider: IdentityProvider | None) -> asyncio.Task[None] | None:
    """Check OIDC discovery at start-up. A reachable provider that is not the configured
    issuer stops start-up (SettingsError); an unreachable one is retried in the background
    while sign-ins answer 503."""
    if not isinstance(provider, OidcProvider):
        return None
    try:
        await provider.discover()
    except DiscoveryMismatch as exc:
        raise SettingsError(
            f"invalid setting AUTHSVC_OIDC_ISSUER_URL (--oidc-issuer-url): {exc}"
        ) from None
    except ProviderUnreachable as exc:
        log.warning("OIDC provider unreachable at start-up, retrying: %s", exc)
        return asyncio.create_task(_keep_discovering(provider), name="oidc-discovery")
    return None


async def _keep_discovering(provider: OidcProvider) -> None:
    delay = 1.0
    while not provider.discovered:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
        try:
            await provider.discover()
        except (ProviderUnreachable, DiscoveryMismatch) as exc:
            log.warning("OIDC discovery failed, retrying in %.0fs: %s", delay, exc)
    log.info("OIDC provider discovered")


def _providers(settings: Settings, http: aiohttp.ClientSession) -> dict[str, IdentityProvider]:
    providers: dict[str, IdentityProvider] = {}
    callback = f"{settings.base_url}/api/v2/users"
    if settings.oidc_issuer_url and settings.oidc_client_id:
        secret = settings.oidc_client_secret
        providers["oidc"] = OidcProvider(
            http,
            settings.oidc_issuer_url,
            settings.oidc_client_id,
            secret.get_secret_value() if secret else "",
            f"{callback}/oidc/callback",
            settings.oidc_scopes,
            settings.oidc_ignore_email_verified,
        )
    if settings.github_client_id:
        secret = settings.github_client_secret
        providers["github"] = GithubProvider(
            http,
            settings.github_client_id,
            secret.get_secret_value() if secret else "",
            f"{callback}/oauth2/github/callback",
            settings.github_base_url,
            settings.github_api_url,
        )
    return providers


def _mailer(settings: Settings) -> Mailer:
    if not settings.smtp_host:
        # The embedded mode, or DEV_MAIL_TO_LOG chosen explicitly (create_app checks).
        return ConsoleMailer()
    return SmtpMailer(
        SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else "",
            connect_timeout=settings.smtp_connect_timeout,
            timeout=settings.smtp_timeout,
        )
    )


def _reload(policies: PolicyHolder, why: str) -> None:
    try:
        policy = policies.reload()
    except ConfigError as exc:
        # A bad file never replaces a good policy.
        log.error("policy reload failed; keeping the running policy: %s", exc)
        return
    log.info("policy reloaded (%s)", why, extra={"policy_version": policy.version})


async def _watch(policies: PolicyHolder, interval: float) -> None:
    files = [policies.config_dir / "roles.yaml", policies.config_dir / "resources.yaml"]

    def stamp() -> tuple[float, ...]:
        return tuple(f.stat().st_mtime if f.exists() else 0.0 for f in files)

    seen = stamp()
    while True:
        await asyncio.sleep(interval)
        now = stamp()
        if now != seen:
            seen = now
            _reload(policies, "file changed")


@contextlib.asynccontextmanager
async def _policy_reloading(policies: PolicyHolder, interval: float) -> AsyncIterator[None]:
    """Reload the policy on SIGHUP, and on file changes when a watch interval is set."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, _reload, policies, "SIGHUP")
        handles_signal = True
    except (NotImplementedError, RuntimeError, ValueError):
        handles_signal = False  # not the main thread (or no signals on this platform)
    watcher = asyncio.create_task(_watch(policies, interval)) if interval > 0 else None
    try:
        yield
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if handles_signal:
            loop.remove_signal_handler(signal.SIGHUP)


def create_app(settings: Settings, *, clock: Clock = system_clock) -> web.Application:
    """Build the application. Nothing is opened until it starts (see `_state`).

    Raises SettingsError when the settings are valid one by one but unsafe to serve with.
    """
    if problem := settings.serving_problem():
        raise SettingsError(problem)
    if settings.secret_key is None:
        # Embedded mode only (Settings enforces that): a per-process key is enough there.
        settings = settings.model_copy(update={"secret_key": SecretStr(secrets.token_urlsafe(32))})
    app = web.Application(
        client_max_size=max(settings.max_body_size, settings.public_max_body_size),
        middlewares=[serve_request],
    )
    app[keys.SETTINGS] = settings
    app[keys.TRUSTED_ORIGINS] = trusted_origins(settings)
    app[keys.CLOCK] = clock
    app[keys.PAGES] = Pages(settings)
    app[keys.METRICS] = Metrics()
    app[keys.BATCHES] = BatchReader()
    install_log_hygiene()
    app.cleanup_ctx.append(_state)
    _routes(app)
    return app
