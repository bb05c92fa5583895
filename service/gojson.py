"""JSON on the wire exactly as Coder's Go server speaks it.

Decoding follows Go's ``encoding/json`` Decoder so that error details match what Coder sends
(``EOF``, ``invalid character 'o' in literal null (expecting 'u')``, ``json: cannot unmarshal
number into Go struct field ...``). Two deliberate differences (see README, "Deviations"): object
keys match field names exactly (Go matches them case-insensitively), and anything after the first
value is an error instead of being ignored.

Encoding follows Go's ``json.Encoder`` with HTML escaping: ``<``, ``>``, ``&``, U+2028 and U+2029
are escaped and the body ends with a newline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

# Go allows 10000 levels. Valid bodies are parsed by orjson (up to 1024 levels); the scanner,
# which only words the error of a body orjson refused, recurses and so stops well inside
# Python's stack. No request body of this API nests deeper than 4; the error text is Go's own.
MAX_DEPTH: Final = 256

_DIGITS: Final = frozenset(b"0123456789")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_WS: Final = frozenset(b" \t\r\n")
_OPENER_RUN: Final = re.compile(rb"[\[{]*+")
_LITERALS: Final = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}
# Runs the scanner skips in one C-level match (possessive: never given back, so linear).
_WS_RUN: Final = re.compile(rb"[ \t\r\n]*+")
_DIGIT_RUN: Final = re.compile(rb"[0-9]*+")
# Possessive quantifiers and atomic groups (Python >= 3.11): what these patterns match is never
# given back, so a match or a failure costs one pass over the bytes looked at, with no
# backtracking. JSON is LL(1), so never giving back loses nothing.
_WS_RE: Final = rb"[ \t\r\n]*+"
_STRING_BODY_RE: Final = rb'(?:[^"\\\x00-\x1f]++|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*+'
_STRING_BODY: Final = re.compile(_STRING_BODY_RE)


def _valid_value_pattern(levels: int) -> bytes:
    """A pattern for one valid JSON value nested at most `levels` deep."""
    ws = _WS_RE
    string = rb'"' + _STRING_BODY_RE + rb'"'
    value = (
        rb"(?>"
        + string
        + rb"|-?+(?>0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+|true|false|null)"
    )
    for _ in range(levels):
        member = string + ws + rb":" + ws + value + ws
        value = (
            rb"(?>"
            + value
            + rb"|\["
            + ws
            + rb"(?>\]|"
            + value
            + ws
            + rb"(?:,"
            + ws
            + value
            + ws
            + rb")*+\])"
            + rb"|\{"
            + ws
            + rb"(?>\}|"
            + member
            + rb"(?:,"
            + ws
            + member
            + rb")*+\}))"
        )
    return value


# Valid stretches are skipped in one C-level match: a whole value nested up to FAST_LEVELS
# deep, or a run of such values each followed by a comma inside a container. Only what these
# cannot take (the first error, deeper nesting) is walked byte by byte, so an invalid body
# costs about what a valid one does.
FAST_LEVELS: Final = 1
_FAST_VALUE_RE: Final = _valid_value_pattern(FAST_LEVELS)
_FAST_VALUE: Final = re.compile(_FAST_VALUE_RE)
_FAST_ELEMENTS: Final = re.compile(rb"(?:" + _WS_RE + _FAST_VALUE_RE + _WS_RE + rb",)*+")
_FAST_MEMBERS: Final = re.compile(
    rb"(?:"
    + _WS_RE
    + rb'"'
    + _STRING_BODY_RE
    + rb'"'
    + _WS_RE
    + rb":"
    + _WS_RE
    + _FAST_VALUE_RE
    + _WS_RE
    + rb",)*+"
)


class GoSyntaxError(ValueError):
    """The body is not one valid JSON value; ``str()`` is Go's decoder error text."""


def _quote_char(c: int) -> str:
    """Port of Go's ``quoteChar``: how the scanner names an offending byte."""
    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    named = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
    if c in named:
        body = named[c]
    elif c == ord("\\"):
        body = "\\\\"
    elif 0x20 <= c < 0x7F:
        body = chr(c)
    elif c < 0x80:
        body = f"\\x{c:02x}"
    elif c < 0xA0 or c in (0xA0, 0xAD):
        body = f"\\u{c:04x}"
    else:
        body = chr(c)
    return f"'{body}'"


class _Scanner:
    """Validates the first JSON value of a byte string the way Go's scanner does."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.depth = 0

    def _err(self, c: int, context: str) -> GoSyntaxError:
        return GoSyntaxError(f"invalid character {_quote_char(c)} {context}")

    def _next(self) -> int:
        if self.pos >= len(self.data):
            raise GoSyntaxError("unexpected EOF")
        c = self.data[self.pos]
        self.pos += 1
        return c

    def _skip_ws(self) -> int:
        data, pos = self.data, self.pos
        if pos < len(data) and data[pos] not in _WS:  # the common case: no whitespace
            self.pos = pos + 1
            return data[pos]
        self.pos = _WS_RUN.match(data, pos).end()  # type: ignore[union-attr]
        return self._next()

    def scan(self) -> int:
        """Scan one value; return the offset just past it. Raises GoSyntaxError."""
        rest = self.data.lstrip(b" \t\r\n")
        if not rest:
            raise GoSyntaxError("EOF")
        self._value(self._skip_ws())
        return self.pos

    def _fast(self, pattern: re.Pattern[bytes], start: int) -> bool:
        """Skip what `pattern` matches at `start` when it cannot pass MAX_DEPTH."""
        if self.depth + FAST_LEVELS + 1 > MAX_DEPTH:
            return False
        data = self.data
        opened = _OPENER_RUN.match(data, start).end() - start  # type: ignore[union-attr]
        if opened > FAST_LEVELS:
            return False  # nested deeper than the pattern takes right here: it cannot help
        match = pattern.match(data, start)
        if match is None or match.end() == start:
            return False
        self.pos = match.end()
        return True

    def _value(self, c: int) -> None:
        if c in (ord("{"), ord("[")) and self._fast(_FAST_VALUE, self.pos - 1):
            return
        if c == ord("{"):
            self._enter()
            self._object()
        elif c == ord("["):
            self._enter()
            self._array()
        elif c == ord('"'):
            self._string()
        elif c == ord("-") or c in _DIGITS:
            self._number(c)
        elif c in _LITERALS:
            word = _LITERALS[c]
            for expected in word[1:]:
                got = self._next()
                if got != expected:
                    raise self._err(
                        got, f"in literal {word.decode()} (expecting {_quote_char(expected)})"
                    )
        else:
            raise self._err(c, "looking for beginning of value")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise GoSyntaxError("exceeded max depth")

    def _object(self) -> None:
        c = self._skip_ws()
        if c == ord("}"):
            self.depth -= 1
            return
        if self._fast(_FAST_MEMBERS, self.pos - 1):
            c = self._skip_ws()
        while True:
            if c != ord('"'):
                raise self._err(c, "looking for beginning of object key string")
            self._string()
            c = self._skip_ws()
            if c != ord(":"):
                raise self._err(c, "after object key")
            self._value(self._skip_ws())
            c = self._skip_ws()
            if c == ord("}"):
                self.depth -= 1
                return
            if c != ord(","):
                raise self._err(c, "after object key:value pair")
            self._fast(_FAST_MEMBERS, self.pos)
            c = self._skip_ws()

    def _array(self) -> None:
        c = self._skip_ws()
        if c == ord("]"):
            self.depth -= 1
            return
        if self._fast(_FAST_ELEMENTS, self.pos - 1):
            c = self._skip_ws()
        while True:
            self._value(c)
            c = self._skip_ws()
            if c == ord("]"):
                self.depth -= 1
                return
            if c != ord(","):
                raise self._err(c, "after array element")
            self._fast(_FAST_ELEMENTS, self.pos)
            c = self._skip_ws()

    def _string(self) -> None:
        # Everything valid is consumed by one C-level match; only the byte it stopped at is
        # looked at here (the closing quote, or the first error).
        self.pos = _STRING_BODY.match(self.data, self.pos).end()  # type: ignore[union-attr]
        c = self._next()
        if c == ord('"'):
            return
        if c == ord("\\"):
            e = self._next()
            if e == ord("u"):
                for _ in range(4):
                    h = self._next()
                    if h not in _HEX:
                        raise self._err(h, "in \\u hexadecimal character escape")
            raise self._err(e, "in string escape code")
        raise self._err(c, "in string literal")

    def _peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def _number(self, c: int) -> None:
        if c == ord("-"):
            c = self._next()
            if c not in _DIGITS:
                raise self._err(c, "in numeric literal")
        if c != ord("0"):
            self._digits()
        p = self._peek()
        if p == ord("."):
            self.pos += 1
            d = self._next()
            if d not in _DIGITS:
                raise self._err(d, "after decimal point in numeric literal")
            self._digits()
        p = self._peek()
        if p in (ord("e"), ord("E")):
            self.pos += 1
            d = self._next()
            if d in (ord("+"), ord("-")):
                d = self._next()
            if d not in _DIGITS:
                raise self._err(d, "in exponent of numeric literal")
            self._digits()

    def _digits(self) -> None:
        self.pos = _DIGIT_RUN.match(self.data, self.pos).end()  # type: ignore[union-attr]
        # Whatever follows the number is judged by the enclosing context, as in Go:
        # "after array element", "after object key:value pair" or "after top-level value".


_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _fix_surrogates(value: Any) -> Any:
    """Go replaces an unpaired ``\\uD800`` escape with U+FFFD; Python would keep it."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, list):
        return [_fix_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_fix_surrogates(k): _fix_surrogates(v) for k, v in value.items()}
    return value


def decode_fast(body: bytes) -> tuple[bool, Any]:
    """(True, value) when the C decoder takes the body; (False, None) when only `decode` can
    say what Go would (its error, or a value orjson refuses but Go accepts)."""
    try:
        return True, orjson.loads(body)
    except orjson.JSONDecodeError:
        return False, None


def decode(body: bytes) -> Any:
    """Decode exactly one JSON value; raise GoSyntaxError with Go's text otherwise.

    Fast path: orjson, which refuses everything Go refuses that matters here (NaN and
    Infinity, bad escapes, raw control characters, trailing data, lone surrogates, invalid
    UTF-8). Only a body it refuses is walked by the scanner, for Go's exact message (or, for
    the few things Go accepts and orjson does not, decoded the slow way).
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    scanner = _Scanner(body)
    end = scanner.scan()
    tail = body[end:].lstrip(b" \t\r\n")
    if tail:
        raise GoSyntaxError(f"invalid character {_quote_char(tail[0])} after top-level value")
    text = body[:end].decode("utf-8", errors="replace")
    try:
        return _fix_surrogates(json.loads(text, parse_int=_go_number, parse_float=_go_number))
    except RecursionError as exc:
        raise GoSyntaxError("exceeded max depth") from exc


def _go_number(literal: str) -> float:
    """A number of any size, valued as Go's float64 would (1e999 -> inf), never an error.

    The service only ever needs a number's kind (no request field is numeric), and Python's
    int() refuses more than 4,300 digits; float() is linear and takes any length.
    """
    return float(literal)


def go_kind(value: Any) -> str:
    """The JSON kind name Go's UnmarshalTypeError uses."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_ESCAPES: Final = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_ESCAPE_RE: Final = re.compile("[<>&\u2028\u2029]")


def encode(value: Mapping[str, Any] | list[Any]) -> bytes:
    """Encode like Go's json.Encoder with SetEscapeHTML(true): compact, escaped, newline."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if _ESCAPE_RE.search(text):
        text = _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], text)
    return text.encode() + b"\n"


def encode_flags(value: Mapping[str, bool]) -> bytes:
    """`encode` for a flat object of booleans (authcheck's answer, on every request): orjson
    writes the same bytes as `encode` for such an object (a property test holds them equal)
    except for the characters Go escapes as HTML, which send it the slow way."""
    try:
        out = orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    except (orjson.JSONEncodeError, TypeError):
        return encode(value)  # whatever orjson refuses, `encode` answers as it always did
    if (
        b"<" in out
        or b">" in out
        or b"&" in out
        or b"\xe2\x80\xa8" in out
        or b"\xe2\x80\xa9" in out
    ):
        return encode(value)
    return out
