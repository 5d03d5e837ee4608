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
from src.entrypoints import json_input

UTF8_BOM = b"\xef\xbb\xbf"
TOO_DEEP = (
    f"is nested too deeply to decode; a payload may nest at most {MAX_PAYLOAD_DEPTH} "
    "levels of objects and arrays"
)

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
        return "body", TOO_DEEP
    if not isinstance(value, dict):
        return "body", f"must be a JSON object ({expected}), not {_kind(value)}"
    return None


def _explain_undecodable(body: bytes) -> tuple[str, str]:
    """Why the strict decoder refused the body, read again leniently to name the place."""
    if body.startswith(UTF8_BOM):
        return "body", (
            "starts with a UTF-8 byte-order mark (EF BB BF), which JSON sent over a network "
            "must not carry (RFC 8259); send the JSON text without it"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "body", "is not UTF-8 text"
    try:
        value = json_input.loads(text)
    except json.JSONDecodeError as error:
        return "body", (
            f"is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        )
    except RecursionError:
        return "body", TOO_DEEP
    problem = json_input.first_problem(value, "")
    if problem is None:
        return "body", "is not valid JSON"
    path, message = problem
    return path or "body", message


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
