"""authcheck's two evaluation paths agree: the fast path for batches that name no stored
object answers every batch exactly as the full path does, for sessions and scoped tokens
alike, errors included."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from service.authz.authcheck import AuthChecker, Caller, Check, PolicyHolder, ResourceResolver
from service.authz.objects import ObjectStore
from service.authz.policy import RoleSet
from service.authz.resources import load_resources
from service.authz.scopes import ScopeCatalog, load_scopes
from service.errors import ApiError

CONFIG = Path(__file__).resolve().parents[2] / "config"
ME = "8c5f6d0e-2b1a-4c3d-9e8f-0a1b2c3d4e5f"
ORGS = ["0b9a6f5e-1111-4c3d-9e8f-0a1b2c3d4e5f", "00000000-0000-0000-0000-000000000000", "x"]
SITE_ROLES = ["owner", "user-admin", "template-admin", "auditor", "member", "no-such-role"]
ORG_ROLES = ["organization-admin", "organization-member", "organization-auditor"]
TYPES = ["", "workspace", "template", "user", "group", "file", "api_key", "organization", "*"]
ACTIONS = ["read", "create", "update", "delete", "use", "ssh", "", "frobnicate"]


class _NoStore:
    """Batches without resource ids never reach the object store, on either path."""

    async def fetch(self, refs: object, user_id: str) -> object:
        raise AssertionError("the store was asked")


_table = load_resources(CONFIG / "resources.yaml")
_checker = AuthChecker(
    PolicyHolder(CONFIG, _table), ResourceResolver(cast(ObjectStore, _NoStore()))
)
# One catalog per path: each compiles its own scopes, so neither reads the other's memo.
_catalogs = (
    load_scopes(CONFIG / "scopes.yaml", _table),
    load_scopes(CONFIG / "scopes.yaml", _table),
)
SCOPE_NAMES = [*_catalogs[0].external, "coder:all", "no:such-scope"]
ALLOW_LIST = ["*:*", "workspace:*", "template:*", f"workspace:{ME}", f"*:{ME}", "user:*"]

checks = st.builds(
    Check,
    action=st.sampled_from(ACTIONS),
    resource_type=st.sampled_from(TYPES),
    owner_id=st.sampled_from(["", "me", ME, "someone-else"]),
    organization_id=st.sampled_from(["", *ORGS]),
    resource_id=st.just(""),
    any_org=st.booleans(),
)
role_sets = st.builds(
    RoleSet.of,
    st.lists(st.sampled_from(SITE_ROLES), max_size=3),
    st.dictionaries(
        st.sampled_from(ORGS[:2]), st.lists(st.sampled_from(ORG_ROLES), max_size=2), max_size=2
    ),
)


token_scopes = st.one_of(
    st.none(),
    st.tuples(
        st.lists(st.sampled_from(SCOPE_NAMES), min_size=1, max_size=3, unique=True).map(tuple),
        st.lists(st.sampled_from(ALLOW_LIST), min_size=1, max_size=3, unique=True).map(tuple),
    ),
)


def _caller(
    roles: RoleSet, scope: tuple[tuple[str, ...], tuple[str, ...]] | None, catalog: ScopeCatalog
) -> Caller:
    return Caller(ME, roles, None if scope is None else catalog.compile(*scope))


def _outcome(call: Callable[[], dict[str, bool]]) -> object:
    try:
        return call()
    except ApiError as exc:
        return ("error", exc.status, exc.body())


@settings(max_examples=300, deadline=None)
@given(
    roles=role_sets,
    scope=token_scopes,
    batch=st.dictionaries(st.text(max_size=8), checks, max_size=12),
)
def test_fast_path_equals_full_path(
    roles: RoleSet,
    scope: tuple[tuple[str, ...], tuple[str, ...]] | None,
    batch: dict[str, Check],
) -> None:
    """For any roles, any token scope (or none) and any batch without resource ids, both
    paths give the same answers, or the same 400 for the same key."""
    fast_caller = _caller(roles, scope, _catalogs[0])
    full_caller = _caller(roles, scope, _catalogs[1])
    fast = _outcome(lambda: _checker.answer_by_type(fast_caller, batch))
    full = _outcome(lambda: asyncio.run(_checker.answer_in_full(full_caller, batch)))
    assert fast == full
