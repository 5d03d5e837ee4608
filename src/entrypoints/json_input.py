"""JSON text from a client, read leniently so that what is wrong with it can be named.

The strict decoders (msgspec behind Litestar, and Python's own ``int`` past
``sys.get_int_max_str_digits()``) refuse a number they cannot hold without saying where
it is, or fail with an exception no caller expects. Here every number and constant is
read by a hook that keeps what cannot be held as a marker; a walk then finds the first
marker (or text that is not Unicode) and names its place, e.g. ``events.0.payload.n``.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class _Unusable:
    """A number or constant of the text that no store could keep, and why."""

    reason: str


def _integer(text: str) -> int | _Unusable:
    digits = len(text.lstrip("-"))
    limit = sys.get_int_max_str_digits()
    if limit and digits > limit:
        return _Unusable(f"is an integer of {digits} digits; at most {limit} digits are accepted")
    return int(text)


def _number(text: str) -> float | _Unusable:
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 24 else f"{text[:24]}..."
        return _Unusable(f"{shown} is a number out of range; it must fit a double (about 1.8e308)")
    return value


def _constant(text: str) -> _Unusable:
    return _Unusable(f"{text} is not a JSON number; NaN and Infinity cannot be stored")


def loads(text: str) -> object:
    """``json.loads`` that never fails on a number: unusable ones become markers."""
    return json.loads(text, parse_int=_integer, parse_float=_number, parse_constant=_constant)


def first_problem(value: object, root: str) -> tuple[str, str] | None:
    """``(path, message)`` of the first unusable number or non-Unicode text, else None.

    Walked without recursion, so a pathological depth cannot crash the walk.
    """
    stack: list[tuple[object, str]] = [(value, root)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, _Unusable):
            return path, item.reason
        if isinstance(item, str):
            if not _is_unicode(item):
                return path, _SURROGATE
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _is_unicode(key):
                    return path, _SURROGATE
                stack.append((child, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{path}.{index}" if path else str(index))
                for index, child in enumerate(item)
            )
    return None


_SURROGATE = (
    "contains a lone UTF-16 surrogate escape (\\ud800 to \\udfff without its pair), "
    "which is not a character; send valid Unicode"
)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
