"""Every typed key for state on the application and on requests."""

from __future__ import annotations

from aiohttp import web

from service.api.batches import BatchReader
from service.auth.admin import Administration
from service.auth.convert import LoginConversion
from service.auth.devices import DeviceCookies
from service.auth.identity import Actor, Authenticator
from service.auth.login import LoginService
from service.auth.otp import PasswordReset
from service.auth.passwords import Passwords
from service.auth.ratelimit import LocalFirstLimiter, RateLimiter
from service.auth.registry import Registry
from service.auth.sessions import SessionManager
from service.auth.signin import IdentityProvider, SignIn
from service.auth.tokens import TokenService
from service.auth.users import UserDirectory, UserStore
from service.authz.authcheck import AuthChecker, PolicyHolder, ResourceResolver
from service.authz.resources import ResourceTable
from service.authz.scopes import ScopeCatalog
from service.clock import Clock
from service.mail.worker import OutboxWorker
from service.metrics import Metrics
from service.settings import Settings
from service.store.audit import RedisAuditLog
from service.store.onetime import RedisOneTimeStore
from service.store.outbox import RedisOutbox
from service.store.redis import Redis
from service.web.renderer import Pages

SETTINGS = web.AppKey("settings", Settings)
PAGES = web.AppKey("pages", Pages)
METRICS = web.AppKey("metrics", Metrics)
AUDIT = web.AppKey("audit", RedisAuditLog)
CLOCK = web.AppKey("clock", Clock)
REDIS = web.AppKey("redis", Redis)
PASSWORDS = web.AppKey("passwords", Passwords)
USERS = web.AppKey("users", UserStore)
DIRECTORY = web.AppKey("directory", UserDirectory)
SESSIONS = web.AppKey("sessions", SessionManager)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
LIMITER = web.AppKey("limiter", RateLimiter)
API_LIMITER = web.AppKey("api_limiter", LocalFirstLimiter)
LOGIN = web.AppKey("login", LoginService)
RESET = web.AppKey("reset", PasswordReset)
OUTBOX = web.AppKey("outbox", RedisOutbox)
OUTBOX_WORKER = web.AppKey("outbox_worker", OutboxWorker)
ONE_TIME = web.AppKey("one_time", RedisOneTimeStore)
CONVERSION = web.AppKey("conversion", LoginConversion)
SIGNIN = web.AppKey("signin", SignIn)
PROVIDERS = web.AppKey("providers", dict[str, IdentityProvider])
RESOURCES = web.AppKey("resources", ResourceTable)
SCOPES = web.AppKey("scopes", ScopeCatalog)
POLICIES = web.AppKey("policies", PolicyHolder)
AUTHCHECK = web.AppKey("authcheck", AuthChecker)
BATCHES = web.AppKey("batches", BatchReader)
DEVICES = web.AppKey("devices", DeviceCookies)
ADMIN = web.AppKey("admin", Administration)
TOKENS = web.AppKey("tokens", TokenService)
REGISTRY = web.AppKey("registry", Registry)
RESOLVER = web.AppKey("resolver", ResourceResolver)
TRUSTED_ORIGINS = web.AppKey("trusted_origins", frozenset[str])

REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
# The IPv4 address or IPv6 network that per-client budgets count by (middleware.client_network).
CLIENT_NETWORK = web.RequestKey("client_network", str)
ACTOR = web.RequestKey("actor", Actor)
# What a handler knows about the subject of an audited request (e.g. the email asked for).
AUDIT_FIELDS = web.RequestKey("audit_fields", dict[str, str])
