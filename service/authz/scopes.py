"""The external API-key scope catalog (config/scopes.yaml), spec §2.1, and what a token's
scopes and allow-list permit (spec §7.4 `scope_allow`, §8)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, ValidationError

from service.authz.config import ConfigError, load_yaml
from service.authz.policy import Obj, PermSet
from service.authz.resources import WILDCARD, ResourceTable

log = logging.getLogger(__name__)


class _ScopesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    special: list[str]
    low_level: list[str]
    composite: dict[str, list[str]]


FULL_ACCESS: Final = "coder:all"
APP_CONNECT: Final = "coder:application_connect"
# The legacy names a token may still be created with, stored as their canonical names.
ALIASES: Final = {"all": FULL_ACCESS, "application_connect": APP_CONNECT}
_SPECIAL: Final = {
    FULL_ACCESS: ((WILDCARD, WILDCARD),),
    APP_CONNECT: (("workspace", "application_connect"),),
}
MAX_ALLOW_LIST: Final = 128  # rbac.maxAllowListEntries
ALLOW_ALL: Final = "*:*"


class ScopeError(ValueError):
    """A scope or allow-list entry a token may not carry; the text is Coder's detail."""


def go_quote(text: str) -> str:
    """Go's %q for the printable text this service quotes (JSON escaping is close enough)."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class TokenScope:
    """What a scoped token may do: the union of its scopes' (site-level) permissions, and the
    objects its allow-list names. Both must allow, and the owner's roles too."""

    perms: PermSet
    allow_list: tuple[tuple[str, str], ...]
    # Decisions memoized per (action, type, id): the id only when an entry names one.
    _memo: dict[tuple[str, str, str], bool] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )
    _by_id: bool = field(init=False, repr=False, compare=False, hash=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", any(ident != WILDCARD for _, ident in self.allow_list))

    def allows(self, action: str, obj: Obj) -> bool:
        """scope_allow: a permission matches, and an allow-list entry names the object (an
        object without an id only passes entries whose id is `*`)."""
        key = (action, obj.type, obj.id if self._by_id else "")
        decision = self._memo.get(key)
        if decision is None:
            if len(self._memo) >= 4096:
                self._memo.clear()
            decision = self._memo[key] = self._decide(action, obj)
        return decision

    def allows_type(self, action: str, type_: str) -> bool:
        """`allows` for an object given by its type alone (no id: authcheck's hot path)."""
        decision = self._memo.get((action, type_, ""))
        if decision is None:
            return self.allows(action, Obj(type_))
        return decision

    def _decide(self, action: str, obj: Obj) -> bool:
        if self.perms.value(obj.type, action) != 1:
            return False
        return any(
            (kind == WILDCARD or kind == obj.type)
            and (ident == WILDCARD or (obj.id != "" and ident == obj.id))
            for kind, ident in self.allow_list
        )

    def covers(self, other: TokenScope) -> bool:
        """Whether every permission and allow-list entry of `other` is within this scope (a
        token may only create tokens no broader than itself)."""
        if not all(self.perms.value(r, a) == 1 for r, a in other.perms.allow):
            return False
        return all(
            any(
                (kind in (WILDCARD, okind)) and (ident in (WILDCARD, oident))
                for kind, ident in self.allow_list
            )
            for okind, oident in other.allow_list
        )


UNRESTRICTED: Final = TokenScope(PermSet(frozenset({(WILDCARD, WILDCARD)})), ((WILDCARD,) * 2,))


@dataclass(frozen=True)
class ScopeCatalog:
    """The names `GET /auth/scopes` lists, and what each composite expands to."""

    external: tuple[str, ...]
    composites: dict[str, tuple[tuple[str, str], ...]]
    table: ResourceTable | None = None
    _compiled: dict[tuple[tuple[str, ...], tuple[str, ...]], TokenScope] = field(
        default_factory=dict, repr=False, compare=False
    )

    def normalize(self, names: Iterable[str]) -> tuple[str, ...]:
        """Scopes a token is created with: external names only, aliases made canonical,
        duplicates dropped; none means full access. Raises ScopeError."""
        known = set(self.external)
        out: list[str] = []
        for name in names:
            if name not in known and name not in ALIASES:
                raise ScopeError(f"invalid or unsupported API key scope: {go_quote(name)}")
            out.append(ALIASES.get(name, name))
        return tuple(dict.fromkeys(out)) or (FULL_ACCESS,)

    def parse_targets(self, entries: Sequence[str]) -> list[tuple[str, str]]:
        """Each `<type>:<id>` entry checked as codersdk.APIAllowListTarget decodes it: a known
        resource type or `*`, a UUID or `*` (ids are kept lower-cased). Raises ScopeError."""
        out: list[tuple[str, str]] = []
        for raw in entries:
            kind, sep, ident = raw.strip().partition(":")
            kind, ident = kind.strip(), ident.strip()
            if not sep or not kind or not ident:
                raise ScopeError(
                    f"invalid allow_list entry {go_quote(raw.strip())}: want <type>:<id>"
                )
            if kind != WILDCARD and (self.table is None or kind not in self.table.resources):
                raise ScopeError(f"unknown resource type {go_quote(kind)}")
            if ident != WILDCARD and _uuid_problem(ident.lower()):
                raise ScopeError(f"invalid {kind} ID (must be UUID): {go_quote(ident)}")
            out.append((kind, ident.lower()))
        return out

    def normalize_allow_list(self, targets: Sequence[tuple[str, str]]) -> tuple[str, ...]:
        """rbac.NormalizeAllowList: at most 128 entries, `*:*` swallowing everything, typed
        wildcards shadowing ids, sorted; none means `*:*`. Raises ScopeError."""
        if len(targets) > MAX_ALLOW_LIST:
            raise ScopeError(
                f"allow_list has {len(targets)} entries; max allowed is {MAX_ALLOW_LIST}"
            )
        if (WILDCARD, WILDCARD) in targets or not targets:
            return (ALLOW_ALL,)
        wildcards = {kind for kind, ident in targets if ident == WILDCARD}
        out = {(k, WILDCARD) for k in wildcards}
        out |= {(k, i) for k, i in targets if i != WILDCARD and k not in wildcards}
        return tuple(f"{k}:{i}" for k, i in sorted(out))

    def compile(self, scopes: tuple[str, ...], allow_list: tuple[str, ...]) -> TokenScope | None:
        """The scope of a stored token, or None when it restricts nothing (`coder:all` on
        `*:*`, every session). Names unknown to the running catalog grant nothing."""
        key = (scopes, allow_list)
        compiled = self._compiled.get(key)
        if compiled is None:
            perms: set[tuple[str, str]] = set()
            for name in scopes:
                if name in _SPECIAL:
                    perms.update(_SPECIAL[name])
                elif name in self.composites:
                    perms.update(self.composites[name])
                elif (parts := _split(name)) is not None and name in self.external:
                    perms.add(parts)
            split = (entry.partition(":") for entry in allow_list)
            targets = tuple((kind, ident) for kind, sep, ident in split if sep)
            compiled = TokenScope(PermSet(frozenset(perms)), targets)
            if len(self._compiled) > 4096:
                self._compiled.clear()
            self._compiled[key] = compiled
        if compiled.perms.value("*", "*") == 1 and ((WILDCARD, WILDCARD) in compiled.allow_list):
            return None
        return compiled


def _uuid_problem(value: str) -> bool:
    parts = value.split("-")
    return [len(p) for p in parts] != [8, 4, 4, 4, 12] or not all(
        c in "0123456789abcdef" for p in parts for c in p
    )


def _split(name: str) -> tuple[str, str] | None:
    resource, sep, action = name.partition(":")
    return (resource, action) if sep and resource and action else None


def load_scopes(path: Path, table: ResourceTable) -> ScopeCatalog:
    """Build the catalog. Invalid low-level names are dropped (as Coder does) with a warning;
    an invalid composite expansion stops start-up. Raises ConfigError."""
    try:
        data = _ScopesFile.model_validate(load_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}") from None
    names = set(data.special)
    for name in data.low_level:
        parts = _split(name)
        problem = "not of the form resource:action" if parts is None else table.check(*parts)
        if problem:
            log.warning("scope %r dropped from the catalog: %s", name, problem)
            continue
        names.add(name)
    composites: dict[str, tuple[tuple[str, str], ...]] = {}
    for name, perms in data.composite.items():
        expanded: list[tuple[str, str]] = []
        for perm in perms:
            parts = _split(perm)
            problem = "not of the form resource:action" if parts is None else table.check(*parts)
            if parts is None or problem:
                raise ConfigError(f"{path}: composite {name!r} entry {perm!r}: {problem}")
            expanded.append(parts)
        composites[name] = tuple(expanded)
        names.add(name)
    return ScopeCatalog(tuple(sorted(names, key=lambda n: n.encode())), composites, table)
