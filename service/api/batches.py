"""Reading authcheck batches: one pass over the decoded JSON when every field has its Go
type, and a bounded memory of what recent batches' bytes read as."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, cast

from service import gojson
from service.authz.authcheck import Check

_NO_OBJECT: dict[str, Any] = {}


def well_typed_checks(raw: Any) -> dict[str, Check] | None:
    """The batch as Checks in one pass when every field has its Go type (nulls read as zero
    values, unknown keys ignored, as Go decodes); None when anything does not, so that the
    binder answers with Go's error.

    Every request runs this over up to hundreds of checks, so it is written out field by
    field (no helper calls or generators per field: measured in bench/, it cost as much as
    validating the batch with pydantic).
    """
    if not isinstance(raw, dict):
        return None
    batch = raw.get("checks")
    if batch is None:
        return {}
    if not isinstance(batch, dict):
        return None
    out: dict[str, Check] = {}
    for key, check in batch.items():
        if check is None:
            check = _NO_OBJECT
        elif not isinstance(check, dict):
            return None
        action = check.get("action")
        if action is None:
            action = ""
        elif type(action) is not str:
            return None
        obj = check.get("object")
        if obj is None:
            obj = _NO_OBJECT
        elif not isinstance(obj, dict):
            return None
        resource_type = obj.get("resource_type")
        if resource_type is None:
            resource_type = ""
        elif type(resource_type) is not str:
            return None
        owner_id = obj.get("owner_id")
        if owner_id is None:
            owner_id = ""
        elif type(owner_id) is not str:
            return None
        organization_id = obj.get("organization_id")
        if organization_id is None:
            organization_id = ""
        elif type(organization_id) is not str:
            return None
        resource_id = obj.get("resource_id")
        if resource_id is None:
            resource_id = ""
        elif type(resource_id) is not str:
            return None
        any_org = obj.get("any_org")
        if any_org is None:
            any_org = False
        elif type(any_org) is not bool:
            return None
        out[key] = Check(action, resource_type, owner_id, organization_id, resource_id, any_org)
    return out


def read_checks(raw: bytes) -> Mapping[str, Check] | None:
    """The batch in `raw` when it is JSON with every field of its Go type, else None (the
    binder then says what is wrong, as Go would)."""
    ok, decoded = gojson.decode_fast(raw)
    if not ok:
        return None
    checks = well_typed_checks(decoded)
    return None if checks is None else MappingProxyType(checks)


_NOT_KEPT: Final = object()  # a kept batch may read as None (ill-typed)


class BatchReader:
    """`read_checks` with a memory: a client sends the same batch over and over (a dashboard
    asks the same questions on every page), so what a batch's bytes read as is kept, as a
    pure function of the bytes (no caller, role or policy in it: every answer is still
    decided per request). Bounded in bytes: each batch is charged twice its size (the body
    and the strings read from it) 256 bytes per check and 1 KiB for itself (measured with
    tracemalloc in tests/api/test_batches.py); the oldest batch goes first. Only
    authenticated callers reach it, and one flooding it with distinct batches costs others
    only a re-read.
    """

    MAX_BODY: Final = 8192
    PER_CHECK: Final = 256
    PER_BATCH: Final = 1024

    def __init__(self, max_bytes: int = 8 << 20) -> None:
        self._max_bytes = max_bytes
        self._batches: dict[bytes, Mapping[str, Check] | None] = {}
        self._held = 0

    def _cost(self, raw: bytes, checks: Mapping[str, Check] | None) -> int:
        return 2 * len(raw) + self.PER_BATCH + self.PER_CHECK * (len(checks) if checks else 0)

    def read(self, raw: bytes) -> Mapping[str, Check] | None:
        kept = self._batches.get(raw, _NOT_KEPT)
        if kept is not _NOT_KEPT:
            return cast(Mapping[str, Check] | None, kept)
        checks = read_checks(raw)
        if len(raw) <= self.MAX_BODY:
            cost = self._cost(raw, checks)
            while self._batches and self._held + cost > self._max_bytes:
                oldest = next(iter(self._batches))
                self._held -= self._cost(oldest, self._batches.pop(oldest))
            if cost <= self._max_bytes:
                self._batches[raw] = checks
                self._held += cost
        return checks

    @property
    def held_bytes(self) -> int:
        """What the kept batches are charged, in all."""
        return self._held

    def __len__(self) -> int:
        return len(self._batches)
