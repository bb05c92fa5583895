"""Go-compatible JSON: decoder error texts and the HTML-escaping encoder."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import gojson

CASES = [
    (b"", "EOF"),
    (b" \n\t", "EOF"),
    (b"not json", "invalid character 'o' in literal null (expecting 'u')"),
    (b"{", "unexpected EOF"),
    (b'{"a":"x', "unexpected EOF"),
    (b'{"a" 1}', "invalid character '1' after object key"),
    (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    (b"[1a]", "invalid character 'a' after array element"),
    (b'{"a":"\x01"}', "invalid character '\\x01' in string literal"),
    (b'{"a":"\\q"}', "invalid character 'q' in string escape code"),
    (b'{"a":"\\u12g4"}', "invalid character 'g' in \\u hexadecimal character escape"),
    (b'{"a":tru}', "invalid character '}' in literal true (expecting 'e')"),
    (b'{"a":fals}', "invalid character '}' in literal false (expecting 'e')"),
    (b'{"a":-x}', "invalid character 'x' in numeric literal"),
    (b'{"a":1.}', "invalid character '}' after decimal point in numeric literal"),
    (b'{"a":1e}', "invalid character '}' in exponent of numeric literal"),
    (b"'x'", "invalid character '\\'' looking for beginning of value"),
    (b'{"a":1,}', "invalid character '}' looking for beginning of object key string"),
    (b"{1:2}", "invalid character '1' looking for beginning of object key string"),
    (b"\xc3\xa9", "invalid character '\u00c3' looking for beginning of value"),
    (b'{"a":1}x', "invalid character 'x' after top-level value"),
    (b"01", "invalid character '1' after top-level value"),
]


@pytest.mark.parametrize(("body", "message"), CASES)
def test_decoder_error_text(body: bytes, message: str) -> None:
    """Each malformed body raises Go's exact decoder message."""
    with pytest.raises(gojson.GoSyntaxError) as info:
        gojson.decode(body)
    assert str(info.value) == message


def test_valid_values_decode() -> None:
    """Valid bodies decode, trailing whitespace is fine, lone surrogates become U+FFFD."""
    assert gojson.decode(b' {"a": [1, 2.5e3, true, null, "x"]} \n') == {
        "a": [1, 2500.0, True, None, "x"]
    }
    assert gojson.decode(b'"\\ud800"') == "\ufffd"
    assert gojson.decode(b'"\\ud83d\\ude00"') == "\U0001f600"


def test_depth_limit() -> None:
    """Absurd nesting is a clean error, not a crash."""
    with pytest.raises(gojson.GoSyntaxError, match="exceeded max depth"):
        gojson.decode(b"[" * 20000 + b"]" * 20000)


def test_encoder_escapes_like_go() -> None:
    """<, >, &, U+2028/9 are escaped, output is compact, and ends with a newline."""
    assert gojson.encode({"m": "<a href='x'>&\u2028"}) == (
        b'{"m":"\\u003ca href=\'x\'\\u003e\\u0026\\u2028"}\n'
    )
    assert gojson.encode({"k": "\u00e9"}) == '{"k":"\u00e9"}\n'.encode()


@given(st.dictionaries(st.text(alphabet=st.characters(codec="utf-8")), st.booleans(), max_size=8))
def test_flags_encode_as_the_general_encoder_does(answers: dict[str, bool]) -> None:
    """authcheck's fast encoder writes exactly what `encode` writes, for any keys (control
    characters, HTML characters, U+2028/9, any script)."""
    assert gojson.encode_flags(answers) == gojson.encode(answers)


def test_flags_that_need_html_escapes_take_the_general_way() -> None:
    """Keys with <, >, & or U+2028/9 come out escaped as Go escapes them."""
    answers = {"<a&b>\u2028\u2029": True, "plain": False}
    assert gojson.encode_flags(answers) == (
        b'{"\\u003ca\\u0026b\\u003e\\u2028\\u2029":true,"plain":false}\n'
    )
