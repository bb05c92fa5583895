"""authcheck's one-pass batch reader agrees with the generic binder: whenever it accepts a
body, the binder accepts it too and reads the same checks; whenever the binder refuses one
(with Go's error), the one-pass reader declines and leaves the answer to the binder."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.api.batches import well_typed_checks
from service.api.binding import conform_value
from service.api.models import AuthorizationRequest
from service.authz.authcheck import Check
from service.errors import ApiError

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=4)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
fields = ["resource_type", "owner_id", "organization_id", "resource_id", "any_org"]
objects = st.one_of(
    values,
    st.dictionaries(st.sampled_from([*fields, "extra"]), st.one_of(scalars, values), max_size=6),
)
checks = st.one_of(
    values,
    st.dictionaries(st.sampled_from(["action", "object", "extra"]), st.one_of(scalars, objects)),
)
bodies = st.one_of(
    values,
    st.fixed_dictionaries(
        {"checks": st.one_of(values, st.dictionaries(st.text(max_size=3), checks, max_size=4))}
    ),
)


def _generic(raw: Any) -> dict[str, Check]:
    body = conform_value(AuthorizationRequest, raw)
    out = {}
    for key, c in body.get("checks", {}).items():
        obj = c.get("object", {})
        out[key] = Check(
            c.get("action", ""),
            obj.get("resource_type", ""),
            obj.get("owner_id", ""),
            obj.get("organization_id", ""),
            obj.get("resource_id", ""),
            obj.get("any_org", False),
        )
    return out


@settings(max_examples=3000, derandomize=True)
@given(bodies)
def test_one_pass_reader_agrees_with_the_binder(raw: Any) -> None:
    """Accepted bodies read the same; refused ones are declined."""
    fast = well_typed_checks(raw)
    try:
        generic = _generic(raw)
    except ApiError:
        assert fast is None
        return
    if fast is not None:
        assert fast == generic
