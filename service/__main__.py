"""Command line: `serve`, and `users ...` administration against the shared store."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from service.api.binding import is_email, is_username
from service.auth.admin import (
    DEFAULT_ORG_REF,
    SYSTEM,
    Administration,
    CreateUser,
    given,
    member_with_user_api,
)
from service.auth.passwords import PasswordHasher, is_supported_hash
from service.auth.policy import check_password
from service.auth.registry import ObjectSpec, Registry, object_item
from service.auth.users import LOGIN_TYPES, STATUSES, UserDirectory
from service.authz.config import ConfigError
from service.authz.policy import Obj, Policy, RoleSet, load_policy
from service.authz.resources import load_resources
from service.authz.scopes import load_scopes
from service.errors import ApiError
from service.logs import configure_logging
from service.settings import Settings, SettingsError, load_settings
from service.store.changes import RedisChangeFeed
from service.store.objects import RedisObjectStore
from service.store.redis import STORE_ERRORS, connect
from service.store.users import RedisUserStore


class CommandError(Exception):
    """A command failed for a reason the user can fix; printed as one line."""


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    for name, info in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        if info.annotation is bool:
            parser.add_argument(flag, dest=name, nargs="?", const="true", metavar="BOOL")
        else:
            parser.add_argument(flag, dest=name, metavar=name.upper())


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in Settings.model_fields}
    return load_settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    from service.app import create_app  # imported late: `users` commands don't need aiohttp

    settings = _settings_from(args)
    configure_logging(settings.log_level)
    if settings.embedded:
        logging.getLogger("authsvc").warning(
            "running on the embedded in-memory store: state is lost on exit and not shared "
            "with other processes; set AUTHSVC_REDIS_URL for real use"
        )
    try:
        import uvloop  # a faster event loop where available (measured in bench/)

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        # aiohttp closes a connection whose next request head has not fully arrived this long
        # after it opened (or after the previous response): a client that sends half a head
        # and stalls cannot hold a connection.
        keepalive_timeout=settings.request_head_timeout,
        shutdown_timeout=settings.shutdown_timeout,
        reuse_port=settings.reuse_port,
        print=lambda msg: logging.getLogger("authsvc").info(
            "listening on http://%s:%d", settings.host, settings.port
        ),
    )
    return 0


def _parse_orgs(specs: Sequence[str]) -> dict[str, list[str]]:
    """`ORG[:ROLE,...]` -> organization reference (id, name or `default`) -> roles."""
    orgs: dict[str, list[str]] = {}
    for spec in specs:
        org, _, roles = spec.partition(":")
        if not org:
            raise CommandError(f"--org {spec!r}: name the organization (id, name or 'default')")
        orgs[org] = [r for r in roles.split(",") if r]
    return orgs


@dataclass
class _Admin:
    """What the user and organization commands work with."""

    admin: Administration
    directory: UserDirectory
    registry: Registry
    objects: RedisObjectStore


async def _with_admin(settings: Settings, action: Callable[[_Admin], Awaitable[Any]]) -> Any:
    """Run `action` with the same domain operations the HTTP API uses, as the system."""
    if settings.embedded:
        raise CommandError(
            "user commands need the shared store: set AUTHSVC_REDIS_URL (the embedded memory:// "
            "store lives inside one serve process; use POST /api/v2/users/first there)"
        )
    from service.auth.admin import AdminPolicy
    from service.auth.passwords import HashCapacity, Passwords
    from service.auth.sessions import SessionManager
    from service.authz.authcheck import PolicyHolder
    from service.clock import system_clock
    from service.store.audit import RedisAuditLog
    from service.store.orgs import RedisOrgStore
    from service.store.otp import RedisOtpStore
    from service.store.sessions import RedisSessionStore

    table = load_resources(settings.policy_dir / "resources.yaml")
    policies = PolicyHolder(settings.policy_dir, table)
    redis = connect(settings.redis_url, settings.redis_timeout)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash")
    try:
        # Every write announces itself on the change feed, as the API's do, so running replicas
        # drop their cached copy of the user at once (a suspension takes effect everywhere).
        changes = RedisChangeFeed(redis)
        store = RedisUserStore(redis, changes)
        directory = UserDirectory(store, system_clock)
        sessions = SessionManager(
            RedisSessionStore(redis, settings.session_max_lifetime, changes),
            system_clock,
            settings.session_duration,
            settings.session_max_lifetime,
        )
        hasher = PasswordHasher(
            settings.argon2_memory_cost, settings.argon2_time_cost, settings.argon2_parallelism
        )
        admin = Administration(
            store,
            RedisOrgStore(redis, changes),
            directory,
            sessions,
            RedisOtpStore(redis, system_clock),
            Passwords(hasher, pool, HashCapacity(1, 1.0)),
            policies,
            RedisAuditLog(redis, settings.audit_max_entries),
            None,
            AdminPolicy(
                disable_password_auth=False,
                oidc_configured=True,
                old_password_limit=-1,
                old_password_window=0,
            ),
            system_clock,
        )
        objects = RedisObjectStore(redis, changes)
        admin.cascade_to(objects)
        registry = Registry(admin, objects, store, table, system_clock)
        try:
            return await action(_Admin(admin, directory, registry, objects))
        except ApiError as exc:
            detail = f" ({exc.validations[0].detail})" if exc.validations else ""
            raise CommandError(f"{exc.message}{detail}") from None
    finally:
        await redis.aclose()
        pool.shutdown(wait=True)


async def _org_id(admin: Administration, ref: str) -> str:
    try:
        return (await admin.resolve_org(SYSTEM, ref)).id
    except ApiError:
        raise CommandError(f"no organization {ref!r}") from None


async def _find(directory: UserDirectory, ref: str) -> Any:
    user = await directory.find(ref)
    if user is None:
        raise CommandError(f"no user {ref!r}")
    return user


def _load_policy(config_dir: Path) -> Policy:
    table = load_resources(config_dir / "resources.yaml")
    load_scopes(config_dir / "scopes.yaml", table)
    return load_policy(config_dir, table)


def _check_roles(policy: Policy, site: Sequence[str], orgs: dict[str, list[str]] | None) -> None:
    """Refuse role names the policy does not define, or of the wrong kind."""
    for name in site:
        role = policy.roles.get(name)
        if role is None or role.kind != "site":
            raise CommandError(f"--role {name!r}: not a site role in roles.yaml")
    for org, names in (orgs or {}).items():
        for name in names:
            role = policy.roles.get(name)
            if role is None or role.kind != "organization":
                raise CommandError(f"--org {org}:{name}: not an organization role in roles.yaml")


def _policy(args: argparse.Namespace) -> int:
    if args.policy_command == "check":
        config_dir = Path(args.dir) if args.dir else load_settings().policy_dir
        policy = _load_policy(config_dir)
        print(f"ok: {len(policy.roles)} roles, policy version {policy.version} ({config_dir})")
        return 0
    settings = load_settings(redis_url=args.redis_url)
    policy = _load_policy(settings.policy_dir)

    async def explain(ctx: _Admin) -> Any:
        user = await _find(ctx.directory, args.user)
        roles = RoleSet.of(user.roles, user.orgs)
        owner = user.id if args.owner == "me" else (args.owner or "")
        obj = Obj(args.type, owner, args.org or "", args.any_org)
        resource = None
        if args.resource_id:
            found, groups = await ctx.objects.fetch([(args.type, args.resource_id)], user.id)
            resource = found.get((args.type, args.resource_id))
            if resource is None:
                return {
                    "allowed": False,
                    "rule": "none",
                    "reason": f"no {args.type} {args.resource_id} is registered",
                    "policy_version": policy.version,
                }
            obj = resource.obj
        result = policy.explain(roles, user.id, args.action, obj)
        out: dict[str, Any] = {
            "allowed": result.allowed,
            "rule": "role" if result.allowed else "none",
            "level": result.level,
            "roles": list(result.roles),
            "reason": result.reason,
            "policy_version": policy.version,
        }
        if resource is not None and not result.allowed:
            orgs = [org for org, _ in roles.orgs]
            acl = resource.acl_decision(user.id, orgs, groups, args.action)
            if acl:
                rule = {"user": "user ACL", "group": "group ACL", "everyone": "Everyone ACL"}[acl]
                out.update(allowed=True, rule=rule, reason=f"allowed by the object's {rule}")
        return out

    print(json.dumps(asyncio.run(_with_admin(settings, explain)), indent=2))
    return 0


def _mail(args: argparse.Namespace) -> int:
    from service.store.outbox import RedisOutbox

    settings = load_settings(redis_url=args.redis_url)
    if settings.embedded:
        raise CommandError("mail status needs the shared store: set AUTHSVC_REDIS_URL")

    async def status() -> dict[str, int]:
        redis = connect(settings.redis_url, settings.redis_timeout)
        try:
            return await RedisOutbox(redis).stats()
        finally:
            await redis.aclose()

    print(json.dumps(asyncio.run(status()), indent=2))
    return 0


def _audit(args: argparse.Namespace) -> int:
    from service.store.audit import RedisAuditLog

    settings = load_settings(redis_url=args.redis_url)
    if settings.embedded:
        raise CommandError("audit tail needs the shared store: set AUTHSVC_REDIS_URL")

    async def tail() -> list[dict[str, Any]]:
        redis = connect(settings.redis_url, settings.redis_timeout)
        try:
            return await RedisAuditLog(redis, settings.audit_max_entries).tail(args.n)
        finally:
            await redis.aclose()

    for event in asyncio.run(tail()):
        print(json.dumps(event))
    return 0


def _check_new_user(email: str, username: str, password: str | None) -> None:
    """The API's rules for a new user (an imported --password-hash skips only strength)."""
    if not is_email(email):
        raise CommandError(f"--email {email!r}: not a valid email address")
    if not is_username(username):
        raise CommandError(
            f"--username {username!r}: 1-32 letters and digits, single hyphens between them, "
            "not 'new' or 'create'"
        )
    if password is not None and (problem := check_password(password)):
        raise CommandError(f"--password: {problem}")


def _users(args: argparse.Namespace) -> int:
    settings = load_settings(redis_url=args.redis_url)

    async def run(ctx: _Admin) -> Any:
        admin, directory = ctx.admin, ctx.directory
        if args.users_command == "create":
            _check_new_user(args.email, args.username, args.password)
            if args.password_hash is not None and not is_supported_hash(args.password_hash):
                raise CommandError("--password-hash: not an argon2 or $pbkdf2-sha256$ hash")
            specs = _parse_orgs(args.org) if args.org else {DEFAULT_ORG_REF: []}
            orgs = {await _org_id(admin, ref): roles for ref, roles in specs.items()}
            _check_roles(_load_policy(settings.policy_dir), args.role, orgs)
            for field, value in (("email", args.email), ("username", args.username)):
                if await directory.find(value) is not None:
                    raise CommandError(f"a user with that {field} already exists")
            user = await admin.create_user(
                SYSTEM,
                CreateUser(
                    email=args.email,
                    username=args.username,
                    password=args.password or "",
                    hashed_password=args.password_hash or "",
                    login_type=args.login_type,
                    user_status=args.status,
                    organization_ids=tuple(orgs),
                    roles=tuple(args.role),
                    org_roles={org: tuple(roles) for org, roles in orgs.items()},
                ),
            )
            return user.to_admin()
        if args.users_command == "list":
            return [u.to_admin() for u in await directory.all()]
        user = await _find(directory, args.user)
        if args.users_command == "get":
            return user.to_admin()
        if args.users_command == "delete":
            await admin.delete_user(SYSTEM, user)
            return {"message": "User has been deleted!"}
        if args.users_command == "set-status":
            return (await admin.set_status(SYSTEM, user, args.status)).to_admin()
        if args.users_command == "set-roles":
            orgs = {
                await _org_id(admin, ref): roles for ref, roles in _parse_orgs(args.org).items()
            }
            _check_roles(_load_policy(settings.policy_dir), args.role, orgs)
            user = await admin.set_site_roles(SYSTEM, user, given(args.role))
            for org_id, roles in orgs.items():
                org = await admin.resolve_org(SYSTEM, org_id)
                if org_id not in user.orgs:
                    user = await admin.add_member(SYSTEM, org, user)
                user = await admin.set_member_roles(SYSTEM, org, user, given(roles))
            return (await _find(directory, user.id)).to_admin()
        raise CommandError(f"unknown users command {args.users_command!r}")

    result = asyncio.run(_with_admin(settings, run))
    print(json.dumps(result, indent=2))
    return 0


def _orgs(args: argparse.Namespace) -> int:
    settings = load_settings(redis_url=args.redis_url)

    async def run(ctx: _Admin) -> Any:
        admin = ctx.admin
        if args.orgs_command == "list":
            return [o.to_api() for o in await admin.list_orgs(SYSTEM)]
        if args.orgs_command == "create":
            if not is_username(args.name):
                raise CommandError(
                    f"{args.name!r}: 1-32 letters and digits, single hyphens between them"
                )
            org = await admin.create_org(SYSTEM, args.name, args.display_name or "", "", "")
            return org.to_api()
        org = await admin.resolve_org(SYSTEM, await _org_id(admin, args.org))
        if args.orgs_command == "delete":
            await admin.delete_org(SYSTEM, org)
            return {"message": "Organization has been deleted."}
        if args.orgs_command == "members":
            roles = admin.policy_roles()
            return [
                member_with_user_api(roles, u, org.id) for u in await admin.members(SYSTEM, org)
            ]
        raise CommandError(f"unknown orgs command {args.orgs_command!r}")

    print(json.dumps(asyncio.run(_with_admin(settings, run)), indent=2))
    return 0


def _read_objects(path: str) -> list[tuple[str, str, ObjectSpec]]:
    """The JSON lines of an import file, each an object's type, id and PUT body fields."""
    specs: list[tuple[str, str, ObjectSpec]] = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise CommandError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(item, dict):
                raise CommandError(f"{path}:{number}: expected a JSON object")
            spec = object_item(item)
            if spec is None:
                raise CommandError(f"{path}:{number}: ids must be strings")
            specs.append(spec)
    return specs


def _objects(args: argparse.Namespace) -> int:
    settings = load_settings(redis_url=args.redis_url)
    specs = _read_objects(args.file)

    async def run(ctx: _Admin) -> Any:
        try:
            records = await ctx.registry.put_objects(SYSTEM, specs)
        except ApiError as exc:
            detail = exc.detail or exc.message
            raise CommandError(f"{args.file}: {detail} (nothing imported)") from None
        return {"imported": len(records)}

    print(json.dumps(asyncio.run(_with_admin(settings, run)), indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="authsvc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the HTTP server")
    _add_setting_flags(serve)
    serve.set_defaults(func=_serve)

    users = sub.add_parser("users", help="administer users in the store named by REDIS_URL")
    users.add_argument("--redis-url", metavar="URL", help="default: AUTHSVC_REDIS_URL")
    users.set_defaults(func=_users)
    usub = users.add_subparsers(dest="users_command", required=True)

    create = usub.add_parser("create", help="create a user and print it")
    create.add_argument("--email", required=True)
    create.add_argument("--username", required=True)
    secret = create.add_mutually_exclusive_group()
    secret.add_argument("--password")
    secret.add_argument("--password-hash", help="an argon2 or Coder $pbkdf2-sha256$ hash")
    create.add_argument("--role", action="append", default=[], help="site role (repeatable)")
    create.add_argument("--org", action="append", default=[], metavar="ORG[:ROLE,...]")
    create.add_argument("--login-type", choices=LOGIN_TYPES, default="password")
    create.add_argument("--status", choices=STATUSES, default="active")

    get = usub.add_parser("get", help="print one user")
    get.add_argument("user", metavar="ID_OR_EMAIL")
    delete = usub.add_parser("delete", help="delete a user, its sessions and memberships")
    delete.add_argument("user", metavar="ID_OR_EMAIL")
    usub.add_parser("list", help="print every user")
    status = usub.add_parser("set-status", help="change a user's status")
    status.add_argument("user", metavar="ID_OR_EMAIL")
    status.add_argument("status", choices=STATUSES)
    roles = usub.add_parser("set-roles", help="replace site roles and the named orgs' roles")
    roles.add_argument("user", metavar="ID_OR_EMAIL")
    roles.add_argument("--role", action="append", default=[])
    roles.add_argument("--org", action="append", default=[], metavar="ORG[:ROLE,...]")

    orgs = sub.add_parser("orgs", help="administer organizations in the store named by REDIS_URL")
    orgs.add_argument("--redis-url", metavar="URL", help="default: AUTHSVC_REDIS_URL")
    orgs.set_defaults(func=_orgs)
    osub = orgs.add_subparsers(dest="orgs_command", required=True)
    osub.add_parser("list", help="print every organization")
    ocreate = osub.add_parser("create", help="create an organization and print it")
    ocreate.add_argument("name")
    ocreate.add_argument("--display-name")
    odelete = osub.add_parser("delete", help="delete an organization and its memberships")
    odelete.add_argument("org", metavar="ORG")
    omembers = osub.add_parser("members", help="print an organization's members")
    omembers.add_argument("org", metavar="ORG")

    objects = sub.add_parser("objects", help="the object registry in the store named by REDIS_URL")
    objects.add_argument("--redis-url", metavar="URL", help="default: AUTHSVC_REDIS_URL")
    objects.set_defaults(func=_objects)
    objsub = objects.add_subparsers(dest="objects_command", required=True)
    oimport = objsub.add_parser(
        "import",
        help="register objects from a file of JSON lines (resource_type, resource_id, "
        "owner_id, organization_id, acl); all or nothing",
    )
    oimport.add_argument("file", metavar="FILE")

    mail = sub.add_parser("mail", help="inspect the mail outbox")
    mail.add_argument("--redis-url", metavar="URL", help="default: AUTHSVC_REDIS_URL")
    mail.set_defaults(func=_mail)
    msub = mail.add_subparsers(dest="mail_command", required=True)
    msub.add_parser("status", help="print the outbox depth: queued, in flight, retrying, dead")

    audit = sub.add_parser("audit", help="read the audit trail")
    audit.add_argument("--redis-url", metavar="URL", help="default: AUTHSVC_REDIS_URL")
    audit.set_defaults(func=_audit)
    asub = audit.add_subparsers(dest="audit_command", required=True)
    tail = asub.add_parser("tail", help="print the newest events as JSON lines, oldest first")
    tail.add_argument("-n", type=int, default=20, help="how many (default 20)")

    policy = sub.add_parser("policy", help="validate or query the role policy")
    policy.set_defaults(func=_policy)
    psub = policy.add_subparsers(dest="policy_command", required=True)
    check = psub.add_parser("check", help="validate resources.yaml, scopes.yaml and roles.yaml")
    check.add_argument("dir", nargs="?", help="config directory (default: AUTHSVC_CONFIG_DIR)")
    explain = psub.add_parser("explain", help="decide one question for a stored user, and why")
    explain.add_argument("--redis-url", metavar="URL", help="default: AUTHSVC_REDIS_URL")
    explain.add_argument("--user", required=True, metavar="ID_OR_EMAIL")
    explain.add_argument("--action", required=True)
    explain.add_argument("--type", required=True, metavar="RESOURCE_TYPE")
    explain.add_argument("--owner", metavar="USER_ID|me")
    explain.add_argument("--org", metavar="ORG_ID")
    explain.add_argument("--any-org", action="store_true")
    explain.add_argument(
        "--resource-id", metavar="ID", help="a registered object (ACLs and groups count)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m service` and the `authsvc` script."""
    args = _parser().parse_args(argv)
    try:
        return cast(int, args.func(args))
    except (SettingsError, ConfigError, CommandError) as exc:
        print(f"authsvc: {exc}", file=sys.stderr)
        return 2
    except STORE_ERRORS as exc:
        print(f"authsvc: cannot reach Redis: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"authsvc: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
