"""Structured logs: one line per fact, extras as key=value (text) or fields (JSON).

Logged values come from outside (a path, a user id, a driver's message): in the text
format a newline among them would start a line of its own, which a reader (or a log
shipper) takes for a record the server never wrote. Every control character of a value
is therefore escaped, and a value holding a space, a quote or ``=`` is quoted, so one
record stays one line and one ``key=value`` pair per field.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Literal

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",  # uvicorn's coloured copy of the message
}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape(text: str) -> str:
    """The text on one line: control characters (and the backslash) as escapes."""
    return _CONTROL.sub(_escape_char, text)


def _field(value: object) -> str:
    text = escape(str(value))
    if text == "" or any(char in text for char in ' "='):
        return '"' + text.replace('"', '\\"') + '"'
    return text


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        message = escape(record.getMessage())
        line = f"{moment} {record.levelname:<7} {escape(record.name)}: {message}"
        extras = " ".join(f"{escape(k)}={_field(v)}" for k, v in _extras(record).items())
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            # A traceback spans lines; indented, none of them can pass for a record,
            # which always starts with its time at the start of the line.
            trace = self.formatException(record.exc_info)
            line += "".join(f"\n    {escape(part)}" for part in trace.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        # Non-ASCII kept as is: operators grep for the French lines in either format.
        return json.dumps(document, default=str, ensure_ascii=False)


def configure_logging(log_format: Literal["text", "json"], level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("sqlalchemy", "eventsourcing", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
