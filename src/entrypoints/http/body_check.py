"""A request body checked before Litestar decodes it, so a client learns what is wrong.

Litestar's own decoder says "Input data was truncated" for an empty body, for a cut
body and for a lone UTF-16 surrogate escape alike, and a JSON array or ``null`` reaches
the model as "Input should be a valid dictionary". This hook answers each case in words
a client developer understands, naming the field where it can.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request

from src.application.errors import RequestInvalidError
from src.domain.events import MAX_PAYLOAD_DEPTH

BodyHook = Callable[[Request[Any, Any, Any]], Awaitable[None]]


def json_object_body(expected: str) -> BodyHook:
    """A ``before_request`` hook refusing a body that is not one JSON object.

    ``expected`` tells the client what to send instead, e.g. ``one event or {"events": [...]}``.
    """

    async def check(request: Request[Any, Any, Any]) -> None:
        problem = explain_body(await request.body(), expected)
        if problem is not None:
            raise RequestInvalidError(*problem)

    return check


def explain_body(body: bytes, expected: str) -> tuple[str, str] | None:
    """``(field, message)`` for a body that is not a JSON object, else None."""
    if not body.strip():
        return "body", f"is empty; send a JSON object: {expected}"
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return _explain_undecodable(body)
    except RecursionError:
        return "body", (
            f"is nested too deeply to decode; a payload may nest at most {MAX_PAYLOAD_DEPTH} "
            "levels of objects and arrays"
        )
    if not isinstance(value, dict):
        return "body", f"must be a JSON object ({expected}), not {_kind(value)}"
    return None


def _explain_undecodable(body: bytes) -> tuple[str, str]:
    """Why the strict decoder refused the body, from the standard library's precise error."""
    try:
        value = json.loads(body)
    except UnicodeDecodeError:
        return "body", "is not UTF-8 text"
    except json.JSONDecodeError as error:
        return "body", (
            f"is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        )
    path = _surrogate_path(value)
    if path is not None:
        return path, (
            "contains a lone UTF-16 surrogate escape (\\ud800 to \\udfff without its pair), "
            "which is not a character; send valid Unicode"
        )
    return "body", "is not valid JSON (NaN and Infinity are not JSON numbers)"


def _surrogate_path(value: object) -> str | None:
    """The dotted path of the first text holding a lone surrogate, walked without recursion."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not _is_unicode(item):
                return path or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if not _is_unicode(key):
                    return path or "body"
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{path}.{index}" if path else str(index))
                for index, child in enumerate(item)
            )
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
