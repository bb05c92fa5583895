"""Coder's user search (`searchquery.Users`) and list paging (`parsePagination`).

`q` is split on spaces (double quotes keep a phrase together), each element is `key:value` or a
bare search term. Keys: `status`, `role`, `login_type` (comma-separated lists), `search`,
`github_com_user_id`,
`created_after`, `created_before`, `last_seen_after`, `last_seen_before` (RFC 3339). Every step
is one pass over the input.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from service.auth.users import LOGIN_TYPES, STATUSES, User
from service.errors import ApiError, Validation

MAX_QUERY: Final = 1024
_LIST_KEYS: Final = {"status": STATUSES, "login_type": LOGIN_TYPES}
_TIME_KEYS: Final = ("created_after", "created_before", "last_seen_after", "last_seen_before")
_KNOWN: Final = frozenset({"search", "role", "github_com_user_id", *_LIST_KEYS, *_TIME_KEYS})


@dataclass(frozen=True)
class UserFilter:
    """A parsed `q`."""

    search: str = ""
    status: tuple[str, ...] = ()
    role: tuple[str, ...] = ()
    login_type: tuple[str, ...] = ()
    created_after: float | None = None
    created_before: float | None = None
    last_seen_after: float | None = None
    last_seen_before: float | None = None
    github_com_user_id: str = ""

    def matches(self, user: User) -> bool:
        """Whether `user` passes every filter (the `member` role matches everyone)."""
        if self.search and not (
            self.search in user.username.lower() or self.search in user.email.lower()
        ):
            return False
        if self.status and user.status not in self.status:
            return False
        if self.login_type and user.login_type not in self.login_type:
            return False
        if self.role and "member" not in self.role and not set(self.role) & set(user.roles):
            return False
        if self.github_com_user_id and user.links.get("github") != self.github_com_user_id:
            return False
        bounds = (
            (self.created_after, user.created_at, 1),
            (self.created_before, user.created_at, -1),
            (self.last_seen_after, user.last_seen_at, 1),
            (self.last_seen_before, user.last_seen_at, -1),
        )
        return all(bound is None or (value - bound) * sign > 0 for bound, value, sign in bounds)


@dataclass(frozen=True)
class Page:
    """`after_id`, `offset` and `limit` (0: no limit)."""

    after_id: str = ""
    offset: int = 0
    limit: int = 0


def _split(text: str, delimiter: str) -> list[str]:
    """Split on `delimiter` outside double quotes; quotes are kept (Coder's first pass)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == delimiter and not quoted:
            if current:
                parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if current:
        parts.append("".join(current))
    return parts


def _query_error(detail: str, field: str = "q") -> ApiError:
    return ApiError(400, "Invalid user search query.", validations=[Validation(field, detail)])


def _time(key: str, value: str) -> float:
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _query_error(
            f'Query param "{key}" must be a valid date format '
            f"(2006-01-02T15:04:05.999999999Z07:00): {value}",
            key,
        ) from None


def parse_user_query(query: str) -> UserFilter:
    """Parse `q`. Raises ApiError 400 `Invalid user search query.` with Coder's details."""
    if len(query) > MAX_QUERY:
        raise _query_error(f"Query must be at most {MAX_QUERY} characters")
    values: dict[str, list[str]] = {}
    for element in _split(query.lower(), " "):
        if element.startswith(":") or element.endswith(":"):
            raise _query_error(f"Query element \"{element}\" cannot start or end with ':'")
        parts = [p.replace('"', "") for p in _split(element, ":")]
        if len(parts) == 1:
            values.setdefault("search", []).append(parts[0])
        elif len(parts) == 2:
            values.setdefault(parts[0], []).append(parts[1])
        else:
            raise _query_error(f"Query element \"{element}\" can only contain 1 ':'")
    errors = [
        Validation(key, f'"{key}" is not a valid query param')
        for key in values
        if key not in _KNOWN
    ]
    lists: dict[str, tuple[str, ...]] = {}
    for key, allowed in _LIST_KEYS.items():
        items = [i for v in values.get(key, []) for i in v.split(",") if i]
        if bad := [i for i in items if i not in allowed]:
            errors.append(
                Validation(
                    key, f'Query param "{key}" has invalid values: "{bad[0]}" is not a valid value'
                )
            )
        lists[key] = tuple(items)
    if errors:
        raise ApiError(400, "Invalid user search query.", validations=errors)
    times = {k: _time(k, values[k][0]) if k in values else None for k in _TIME_KEYS}
    github = values.get("github_com_user_id", [""])[0]
    if github and not (github.isascii() and github.isdigit() and len(github) <= 19):
        raise _query_error(
            f'Query param "github_com_user_id" must be a valid integer ({github})',
            "github_com_user_id",
        )
    return UserFilter(
        search=" ".join(values.get("search", [])),
        status=lists["status"],
        role=tuple(r for v in values.get("role", []) for r in v.split(",") if r),
        login_type=lists["login_type"],
        github_com_user_id=github,
        **times,
    )


def _positive_int(params: dict[str, str], key: str, errors: list[Validation]) -> int:
    raw = params.get(key, "")
    if raw == "":
        return 0
    if raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= 2**31 - 1:
        return int(raw)
    errors.append(
        Validation(key, f'Query param "{key}" must be a valid 32-bit positive integer ({raw!s})')
    )
    return 0


def parse_page(params: dict[str, str]) -> Page:
    """Coder's parsePagination. Raises ApiError 400 `Query parameters have invalid values.`"""
    errors: list[Validation] = []
    after = params.get("after_id", "")
    after_id = ""
    if after:
        try:
            after_id = str(uuid.UUID(after))
        except ValueError:
            errors.append(Validation("after_id", 'Query param "after_id" must be a valid uuid'))
    limit = _positive_int(params, "limit", errors)
    offset = _positive_int(params, "offset", errors)
    if errors:
        raise ApiError(400, "Query parameters have invalid values.", validations=errors)
    return Page(after_id, offset, limit)


def paginate(users: list[User], page: Page, anchor: User | None) -> tuple[list[User], int]:
    """Order by lower-cased username, start after `anchor` (the `after_id` user, looked up
    among all users whatever the filter), and count the matches. As in Coder's SQL, where
    the count is a window function over the returned rows, an empty page counts 0."""
    ordered = sorted(users, key=lambda u: u.username.lower())
    if page.after_id:
        if anchor is None:
            return [], 0
        ordered = [u for u in ordered if u.username.lower() > anchor.username.lower()]
    count = len(ordered)
    window = ordered[page.offset :]
    if page.limit:
        window = window[: page.limit]
    return window, count if window else 0
