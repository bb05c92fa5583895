"""Property tests of the evaluator over random role definitions (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.authz.policy import Obj, PermSet, Policy, RoleSet, compile_roles
from service.authz.resources import ResourceTable

TABLE = ResourceTable(
    actions=frozenset({"x", "y", "z"}),
    resources={"*": frozenset(), "a": frozenset({"x", "y"}), "b": frozenset({"x", "z"})},
)
ME = "me-id"
ORGS = ["o1", "o2"]

perm = st.builds(
    lambda neg, r, a: f"{'!' if neg else ''}{r}:{a}",
    st.booleans(),
    st.sampled_from(["a", "b", "*"]),
    st.sampled_from(["x", "y", "z", "*"]),
).filter(
    lambda p: (
        p.split(":")[1] in ("*",)
        or p.lstrip("!").split(":")[0] == "*"
        or p.split(":")[1] in TABLE.resources[p.lstrip("!").split(":")[0]]
    )
)
allow_perm = perm.filter(lambda p: not p.startswith("!"))


def role_spec(name: str, kind: str, perms: Any) -> Any:
    return st.fixed_dictionaries(
        {
            "name": st.just(name),
            "kind": st.just(kind),
            "site": st.lists(perms, max_size=3),
            "user": st.lists(perms, max_size=3),
            **({"org": st.lists(perms, max_size=3)} if kind == "organization" else {}),
        }
    )


def policy_from(specs: list[Any]) -> Policy:
    base = [
        {"name": "member", "kind": "site"},
        {"name": "organization-member", "kind": "organization"},
    ]
    return Policy(compile_roles({"roles": base + specs}, TABLE, "test"), "v")


roles_st = st.tuples(
    role_spec("s1", "site", perm),
    role_spec("s2", "site", perm),
    role_spec("g1", "organization", perm),
    role_spec("g2", "organization", perm),
)
subject_st = st.tuples(
    st.lists(st.sampled_from(["s1", "s2"]), unique=True),
    st.dictionaries(st.sampled_from(ORGS), st.lists(st.sampled_from(["g1", "g2"]), unique=True)),
)
question_st = st.tuples(
    st.sampled_from(["x", "y", "z", "w"]),
    st.builds(
        Obj,
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["", ME, "someone"]),
        st.sampled_from(["", "o1", "o2", "o3"]),
        st.booleans(),
    ),
)


@settings(max_examples=300, deadline=None)
@given(roles_st, subject_st, question_st, st.sampled_from(["site", "org", "user"]))
def test_deny_beats_allows_at_its_level_and_below(
    roles: Any, subject: Any, question: Any, level: str
) -> None:
    """With a matching deny at a level, only a higher level's allow can still grant."""
    action, obj = question
    site_roles, orgs = subject
    # A valid deny that matches the question (types a/b are in the table, c is not).
    deny = f"!{obj.type}:*" if obj.type in ("a", "b") else "!*:*"
    if level == "org":
        if obj.any_org or not obj.org or obj.org not in ("o1", "o2"):
            return
        extra = {"name": "deny", "kind": "organization", "org": [deny]}
        orgs = {**orgs, obj.org: [*orgs.get(obj.org, []), "deny"]}
    else:
        extra = {"name": "deny", "kind": "site", level: [deny]}
        site_roles = [*site_roles, "deny"]
    policy = policy_from([*roles, extra])
    compiled = policy.subject(RoleSet.of(site_roles, orgs))
    allowed = compiled.allowed(ME, action, obj)
    site = compiled.site.value(obj.type, action)
    if obj.any_org and obj.org:
        assert not allowed  # Coder's authorizer errors on any_org with an organization
        return
    if level == "site":
        assert not allowed
    elif level == "org":
        assert allowed == (site == 1)
    else:
        org = compiled.org_perms.get(obj.org, PermSet()).value(obj.type, action) if obj.org else 0
        if obj.any_org:
            org = (
                1 if any(p.value(obj.type, action) == 1 for p in compiled.org_perms.values()) else 0
            )
        assert allowed == (site == 1 or (site != -1 and org == 1))


@settings(max_examples=300, deadline=None)
@given(
    roles_st,
    subject_st,
    question_st,
    role_spec("extra", "site", allow_perm),
    role_spec("extra-org", "organization", allow_perm),
    st.sampled_from(ORGS),
)
def test_adding_an_allow_only_role_never_removes_a_permission(
    roles: Any, subject: Any, question: Any, extra_site: Any, extra_org: Any, org: str
) -> None:
    """A role without denies, added as a site role or in an org, keeps every allowed answer."""
    action, obj = question
    site_roles, orgs = subject
    policy = policy_from([*roles, extra_site, extra_org])
    before = policy.subject(RoleSet.of(site_roles, orgs)).allowed(ME, action, obj)
    with_site = policy.subject(RoleSet.of([*site_roles, "extra"], orgs)).allowed(ME, action, obj)
    joined = {**orgs, org: [*orgs.get(org, []), "extra-org"]}
    with_org = policy.subject(RoleSet.of(site_roles, joined)).allowed(ME, action, obj)
    if before:
        assert with_site
        assert with_org
