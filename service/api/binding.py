"""Request-body binding with Coder's `httpapi.Read` semantics (spec §1.3).

Bodies are decoded by :mod:`service.gojson`, checked against the request model's field types the
way Go's decoder does (first type error wins, reported with Go's wording), then validated with the
go-playground tags Coder declares on its structs.
"""

from __future__ import annotations

import asyncio
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, get_args, get_origin

import re2
from pydantic import BaseModel

from service import gojson
from service.authz.authcheck import uuid_error
from service.errors import INVALID_JSON, ApiError, Validation


@dataclass(frozen=True)
class Tag:
    """go-playground `validate:"..."` tags for one field, e.g. ``Tag("required,email")``."""

    spec: str


class GoStruct(BaseModel):
    """A request body; `go_name` is the codersdk type name used in Go's error messages."""

    go_name: ClassVar[str] = ""


M = TypeVar("M", bound=GoStruct)


@dataclass(frozen=True)
class GoInt:
    """Marks an `int` field as a Go integer type (`time.Duration` is nanoseconds): a JSON
    integer within int64; anything else is Go's type error naming `go_type`."""

    go_type: str = "int"


@dataclass(frozen=True)
class AllowListTargets:
    """Marks a `list[str]` field as `[]codersdk.APIAllowListTarget`: each entry is a
    `"<type>:<id>"` string or a `{"type", "id"}` object, read as Coder's UnmarshalJSON does
    (the object form becomes the string form; the parts are checked by the handler)."""


_TARGET_SHAPE = "invalid allow_list entry: expected object with type/id or string"


def _target(item: Any) -> str:
    if item is None:
        return ""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        kind, ident = item.get("type", ""), item.get("id", "")
        if isinstance(kind, str) and isinstance(ident, str) and (kind or ident):
            if not kind or not ident:
                raise ApiError(400, INVALID_JSON, "allow_list entry must include both type and id")
            return f"{kind}:{ident}"
    raise ApiError(400, INVALID_JSON, _TARGET_SHAPE)


@dataclass(frozen=True)
class UUIDElements:
    """Marks a `list[str]` field as Go's `[]uuid.UUID`: each element must parse as a UUID,
    and a bad one is reported with google/uuid's error text, as Go's decoder does."""


# go-playground/validator's email regex. It was written for Go's RE2, whose matching time is
# linear in the input; Python's backtracking `re` takes exponential time on it (a quote and a
# few dozen spaces stall the process), so every Go pattern runs on RE2 itself (google-re2),
# which also gives Go's semantics (`\d` is ASCII only). Anchored with fullmatch, as Go's `^...$`.
_U = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
_EMAIL = re2.compile(
    r"(?:(?:(?:(?:[a-zA-Z]|\d|[!#\$%&'\*\+\-\/=\?\^_`{\|}~]|[" + _U + r"])+"
    r"(?:\.([a-zA-Z]|\d|[!#\$%&'\*\+\-\/=\?\^_`{\|}~]|[" + _U + r"])+)*)"
    r"|(?:(?:\x22)(?:(?:(?:(?:\x20|\x09)*(?:\x0d\x0a))?(?:\x20|\x09)+)?"
    r"(?:(?:[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]|\x21|[\x23-\x5b]|[\x5d-\x7e]|[" + _U + r"])"
    r"|(?:(?:[\x01-\x09\x0b\x0c\x0d-\x7f]|[" + _U + r"]))))*"
    r"(?:(?:(?:\x20|\x09)*(?:\x0d\x0a))?(\x20|\x09)+)?(?:\x22))))"
    r"@(?:(?:(?:[a-zA-Z]|\d|[" + _U + r"])|(?:(?:[a-zA-Z]|\d|[" + _U + r"])"
    r"(?:[a-zA-Z]|\d|-|\.|~|[" + _U + r"])*(?:[a-zA-Z]|\d|[" + _U + r"])))\.)+"
    r"(?:(?:[a-zA-Z]|[" + _U + r"])|(?:(?:[a-zA-Z]|[" + _U + r"])"
    r"(?:[a-zA-Z]|\d|-|\.|~|[" + _U + r"])*(?:[a-zA-Z]|[" + _U + r"])))\.?"
)
_USERNAME = re2.compile(r"[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*")


def _full_match(pattern: Any, value: str) -> bool:
    try:
        return pattern.fullmatch(value) is not None
    except UnicodeEncodeError:  # a lone surrogate: never a valid address or name
        return False


def is_email(value: str) -> bool:
    """go-playground's `email` rule (linear time: RE2)."""
    return _full_match(_EMAIL, value)


def is_username(value: str) -> bool:
    """Coder's `username` rule (codersdk.NameValid); the length is checked before the pattern."""
    if not 1 <= len(value) <= 32 or value in ("new", "create"):
        return False
    return _full_match(_USERNAME, value)


def _is_real_name(value: str) -> bool:
    return len(value) <= 128 and value == value.strip()


_RULES: dict[str, typing.Callable[[Any], bool]] = {
    "group_name": lambda v: isinstance(v, str) and is_username(v),
    "required": lambda v: v not in ("", None, False, 0),
    "email": lambda v: isinstance(v, str) and is_email(v),
    "username": lambda v: isinstance(v, str) and is_username(v),
    "user_real_name": lambda v: isinstance(v, str) and _is_real_name(v),
    "organization_name": lambda v: isinstance(v, str) and is_username(v),
    "organization_display_name": lambda v: isinstance(v, str) and len(v) <= 64 and v == v.strip(),
}


def _go_type(annotation: Any) -> str:
    if annotation is int:
        return "time.Duration"
    if annotation is str:
        return "string"
    if annotation is bool:
        return "bool"
    if isinstance(annotation, type) and issubclass(annotation, GoStruct):
        return f"codersdk.{annotation.go_name}"
    if get_origin(annotation) is dict:
        _, value_type = get_args(annotation)
        return f"map[string]{_go_type(value_type)}"
    if get_origin(annotation) is list:
        return f"[]{_go_type(get_args(annotation)[0])}"
    raise TypeError(f"unsupported request field type {annotation!r}")


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _type_error(value: Any, struct: str, path: list[str], go_type: str) -> ApiError:
    where = f"Go struct field {struct}.{'.'.join(path)}"
    return ApiError(
        400,
        INVALID_JSON,
        f"json: cannot unmarshal {gojson.go_kind(value)} into {where} of type {go_type}",
    )


# Per model: field name -> (kind, annotation, element model), computed once per class.
_Plan = dict[str, tuple[str, Any, Any]]


@functools.cache
def _plan(model: type[GoStruct]) -> _Plan:
    plan: _Plan = {}
    for name, info in model.model_fields.items():
        ann = _strip_optional(info.annotation)
        if ann is str or ann is bool:
            plan[name] = ("scalar", ann, None)
        elif ann is int and (
            go_int := next((m for m in info.metadata if isinstance(m, GoInt)), None)
        ):
            plan[name] = ("integer", ann, go_int.go_type)
        elif ann is Any:
            plan[name] = ("raw", ann, None)
        elif isinstance(ann, type) and issubclass(ann, GoStruct):
            plan[name] = ("struct", ann, None)
        elif get_origin(ann) is dict:
            plan[name] = ("map", ann, get_args(ann)[1])
        elif get_origin(ann) is list and get_args(ann) == (str,):
            uuids = any(isinstance(m, UUIDElements) for m in info.metadata)
            targets = any(isinstance(m, AllowListTargets) for m in info.metadata)
            kind = "targets" if targets else "uuids" if uuids else "strings"
            plan[name] = (kind, ann, None)
        else:  # pragma: no cover - models only use the types above
            raise TypeError(f"unsupported request field type {ann!r}")
    return plan


def _conform(model: type[GoStruct], obj: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """Keep known keys, drop nulls (Go leaves the zero value), raise Go's first type error."""
    plan = _plan(model)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        field = plan.get(key)
        if field is None or value is None:
            continue
        kind, ann, elem = field
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _type_error(value, model.go_name, [*path, key], elem)
            if isinstance(value, float) or not -(2**63) <= value < 2**63:
                where = f"Go struct field {model.go_name}.{'.'.join([*path, key])}"
                raise ApiError(
                    400,
                    INVALID_JSON,
                    f"json: cannot unmarshal number {value!r} into {where} of type {elem}",
                )
            out[key] = value
        elif kind == "raw":
            out[key] = value
        elif kind == "scalar":
            if not isinstance(value, ann):
                raise _type_error(value, model.go_name, [*path, key], _go_type(ann))
            out[key] = value
        elif kind == "targets":
            if not isinstance(value, list):
                raise _type_error(
                    value, model.go_name, [*path, key], "[]codersdk.APIAllowListTarget"
                )
            out[key] = [_target(item) for item in value]
        elif kind in ("strings", "uuids"):
            out[key] = _strings(value, model.go_name, [*path, key], kind == "uuids")
        elif not isinstance(value, dict):
            raise _type_error(value, model.go_name, [*path, key], _go_type(ann))
        elif kind == "struct":
            out[key] = _conform(ann, value, [*path, key])
        else:
            here = [*path, key]
            conformed: dict[str, Any] = {}
            for k, v in value.items():
                if v is None:
                    conformed[k] = {}
                elif not isinstance(v, dict):
                    raise _type_error(v, model.go_name, here, _go_type(elem))
                else:
                    conformed[k] = _conform(elem, v, here)
            out[key] = conformed
    return out


def _strings(value: Any, struct: str, path: list[str], uuids: bool) -> list[str]:
    element = "uuid.UUID" if uuids else "string"
    if not isinstance(value, list):
        raise _type_error(value, struct, path, f"[]{element}")
    out: list[str] = []
    for item in value:
        if item is None:
            item = "00000000-0000-0000-0000-000000000000" if uuids else ""
        elif not isinstance(item, str):
            raise _type_error(item, struct, path, element)
        elif uuids and (problem := uuid_error(item)):
            raise ApiError(400, INVALID_JSON, problem)
        out.append(item)
    return out


def validate(instance: GoStruct) -> list[Validation]:
    """Run the go-playground tags in field order; each field reports its first failing tag."""
    failures: list[Validation] = []
    for name, info in type(instance).model_fields.items():
        tags = next((m for m in info.metadata if isinstance(m, Tag)), None)
        if tags is None:
            continue
        value = getattr(instance, name)
        for tag in tags.spec.split(","):
            if tag == "omitempty":
                if value in ("", None):
                    break
                continue
            if not _RULES[tag](value):
                shown = "" if value is None else value
                if isinstance(shown, bool):
                    shown = str(shown).lower()
                failures.append(
                    Validation(name, f'Validation failed for tag "{tag}" with value: "{shown}"')
                )
                break
    return failures


# A body the C decoder refuses is walked by the Python scanner for Go's error message, which
# costs up to ~2 us per byte for the worst shapes. Past this size the walk runs in a worker
# thread, so that the event loop keeps answering everyone else meanwhile (the interpreter
# switches threads every few milliseconds); anonymous bodies never get this large.
THREAD_SCAN_BYTES = 8 * 1024


async def bind_body(model: type[M], body: bytes) -> M:
    """`bind`, never holding the event loop long for a large malformed body."""
    ok, raw = gojson.decode_fast(body)
    if ok:
        return bind_value(model, raw)
    if len(body) > THREAD_SCAN_BYTES:
        return await asyncio.to_thread(bind, model, body)
    return bind(model, body)


def bind(model: type[M], body: bytes) -> M:
    """Decode, type-check and validate a request body. Raises ApiError (400)."""
    try:
        raw = gojson.decode(body)
    except gojson.GoSyntaxError as exc:
        raise ApiError(400, INVALID_JSON, str(exc)) from exc
    return bind_value(model, raw)


def conform_value(model: type[GoStruct], raw: Any) -> dict[str, Any]:
    """A decoded body type-checked as Go decodes it into `model` (unknown keys and nulls
    dropped), as plain data. Raises ApiError (400)."""
    if raw is None:
        raw = {}  # Go decodes a top-level null into the zero struct
    if not isinstance(raw, dict):
        raise ApiError(
            400,
            INVALID_JSON,
            f"json: cannot unmarshal {gojson.go_kind(raw)} into Go value of type "
            f"codersdk.{model.go_name}",
        )
    return _conform(model, raw, [])


async def conform_body(model: type[GoStruct], body: bytes) -> dict[str, Any]:
    """`bind_body` without building the pydantic model, for a hot path whose model has no
    validation tags (authcheck): the same decoding, type errors and messages."""
    ok, raw = gojson.decode_fast(body)
    if not ok:
        return (await bind_body(model, body)).model_dump()
    return conform_value(model, raw)


def bind_value(model: type[M], raw: Any) -> M:
    """Type-check and validate a decoded body. Raises ApiError (400)."""
    instance = model.model_validate(conform_value(model, raw))
    failures = validate(instance)
    if failures:
        raise ApiError(400, "Validation failed.", validations=failures)
    return instance
