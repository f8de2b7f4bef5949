"""JSON text from outside, decoded within bounds of size, depth and number length.

A state file, a service's setting, a table row, an ingress's answer or an
identity header may hold anything.  Python's decoder recurses once per
level of nesting (100,000 levels end in ``RecursionError``), reads a number
of any length (thousands of digits are a ``ValueError`` on Python 3.11 and
slow before), and ``bytes`` that are not UTF-8 fail before it starts.
``decode`` checks all of that first and says what was wrong in one line,
never quoting the text: it may hold a secret.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["MAX_DEPTH", "MAX_NUMBER", "JsonRefused", "decode"]

MAX_DEPTH: Final = 64
"""How deep arrays and objects may nest: the state nests five levels."""

MAX_NUMBER: Final = 100
"""How many characters one number may take (a count, a timestamp: about 20)."""

# A JSON string, escapes included: an unrolled loop, linear in the text.
_STRING = re.compile(r'"[^"\\]*(?:\\[\s\S][^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JsonRefused(ValueError):
    """The text is not JSON this library reads; the message says why, never what."""


def depth(text: str) -> int:
    """How deep the text's arrays and objects nest, strings aside; counts stop past ``MAX_DEPTH``.

    One pass: strings and everything but brackets are cut out by regular
    expressions, then the brackets left are counted.

    >>> depth('{"a": [1, {"b": "[[["}]}'), depth("1"), depth("[" * 10_000) == MAX_DEPTH + 1
    (3, 0, True)
    """
    level = top = 0
    for ch in _NOT_BRACKET.sub("", _STRING.sub('""', text)):
        if ch in "[{":
            level += 1
            if level > top:
                top = level
                if top > MAX_DEPTH:
                    break
        else:
            level -= 1
    return top


def _number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > MAX_NUMBER:
            raise JsonRefused(f"a number of {len(text):,} characters (at most {MAX_NUMBER})")
        return kind(text)

    return parse


def decode(data: str | bytes, *, max_size: int | None = None) -> Any:
    """The JSON value of ``data``, or ``JsonRefused`` saying why not.

    ``max_size`` bounds the length of ``data`` (bytes, or characters of a
    ``str``, which take a byte or more each).

    >>> decode(b'{"jobs": [1, 2.5]}')
    {'jobs': [1, 2.5]}
    >>> decode("[" * 100_000)
    Traceback (most recent call last):
    ...
    pipeline_collector.jsontext.JsonRefused: nested deeper than 64 levels
    >>> decode("1" * 5000)
    Traceback (most recent call last):
    ...
    pipeline_collector.jsontext.JsonRefused: a number of 5,000 characters (at most 100)
    >>> decode(b'"caf\\xe9"')
    Traceback (most recent call last):
    ...
    pipeline_collector.jsontext.JsonRefused: not UTF-8 (byte 4 of 6)
    """
    if max_size is not None and len(data) > max_size:
        raise JsonRefused(f"longer than {max_size:,} bytes")
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRefused(f"not UTF-8 (byte {exc.start} of {len(raw)})") from None
    else:
        text = data
    if depth(text) > MAX_DEPTH:
        raise JsonRefused(f"nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_int=_number(int), parse_float=_number(float))
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # not reached within MAX_DEPTH; kept as a last guard
        raise JsonRefused(f"nested deeper than {MAX_DEPTH} levels") from None
