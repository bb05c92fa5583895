"""The RBAC resource/action table (config/resources.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from service.authz.config import ConfigError, load_yaml

WILDCARD = "*"


class _ResourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actions: list[str]
    resources: dict[str, list[str]]


@dataclass(frozen=True)
class ResourceTable:
    """Known resource types and the actions each supports."""

    actions: frozenset[str]
    resources: Mapping[str, frozenset[str]]

    def check(self, resource: str, action: str) -> str | None:
        """Why `resource:action` is not valid, or None when it is."""
        if resource not in self.resources:
            return f"unknown resource type {resource!r}"
        if action != WILDCARD and action not in self.resources[resource]:
            return f"resource type {resource!r} has no action {action!r}"
        return None


def load_resources(path: Path) -> ResourceTable:
    """Load and validate the table. Raises ConfigError."""
    try:
        data = _ResourcesFile.model_validate(load_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}") from None
    actions = frozenset(data.actions)
    for resource, acts in data.resources.items():
        for act in acts:
            if act not in actions:
                raise ConfigError(f"{path}: resource {resource!r} lists unknown action {act!r}")
    return ResourceTable(actions, {r: frozenset(a) for r, a in data.resources.items()})
