"""The external API-key scope catalog (config/scopes.yaml), spec §2.1."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from service.authz.config import ConfigError, load_yaml
from service.authz.resources import ResourceTable

log = logging.getLogger(__name__)


class _ScopesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    special: list[str]
    low_level: list[str]
    composite: dict[str, list[str]]


@dataclass(frozen=True)
class ScopeCatalog:
    """The names `GET /auth/scopes` lists, and what each composite expands to."""

    external: tuple[str, ...]
    composites: dict[str, tuple[tuple[str, str], ...]]


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
    return ScopeCatalog(tuple(sorted(names, key=lambda n: n.encode())), composites)
