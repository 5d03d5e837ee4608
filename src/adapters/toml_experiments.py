"""The experiments file (TOML) read into an ``ExperimentBook``, every mistake named by line.

A product owner edits this file without touching code, so its errors must read like a
proofreader's notes: "line 12: weight must be a number above 0", not a traceback.

The experiments themselves are declared by the app modules, beside their rules; a file
named by ``NUDGE_EXPERIMENTS_FILE`` replaces that book. The file shipped beside this
module is a commented copy of the modules' book, for product owners to start from (a
test holds the two equal); it is never read as the default.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from src.domain.catalogue import Catalogue
from src.domain.errors import FlywheelError
from src.domain.experiments import (
    DEFAULT_MIN_SHARE,
    MODES,
    Experiment,
    ExperimentBook,
    ExperimentInvalidError,
    Variant,
)

DEFAULT_FILE = "nudge_experiments.toml"
_HEADER = re.compile(r"^\s*\[(\[)?\s*([^\]]+?)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


class ExperimentFileError(FlywheelError):
    """The experiments file cannot be used; the message names the file and the line."""


def shipped_experiments_text() -> str:
    """The commented copy of the modules' experiments that ships with the flywheel."""
    return (resources.files("src.adapters") / "config" / DEFAULT_FILE).read_text(encoding="utf-8")


def load_experiments(path: Path | None, catalogue: Catalogue) -> ExperimentBook:
    """The file at ``path`` checked against the catalogue; the app modules' own
    experiments when None."""
    if path is None:
        return catalogue.experiments
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ExperimentFileError(
            f"NUDGE_EXPERIMENTS_FILE {path}: cannot read it ({error})"
        ) from None
    return parse_experiments(text, catalogue, str(path))


def parse_experiments(text: str, catalogue: Catalogue, name: str) -> ExperimentBook:
    """A nudge type left out runs no experiment: it shows its rule's own message."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ExperimentFileError(f"{name}: {error}") from None
    lines = _LineIndex(text)
    rules = catalogue.rules_by_type
    experiments: dict[str, Experiment] = {}
    for nudge_type, table in document.items():
        where = lines.of(nudge_type)
        if nudge_type not in rules:
            known = ", ".join(sorted(rules))
            raise ExperimentFileError(
                f"{name}, line {where}: unknown nudge type {nudge_type!r}; known: {known}"
            )
        if not isinstance(table, dict):
            raise ExperimentFileError(f"{name}, line {where}: [{nudge_type}] must be a table")
        experiments[nudge_type] = _experiment(nudge_type, table, lines, name)
    return ExperimentBook(experiments)


def _experiment(
    nudge_type: str, table: Mapping[str, Any], lines: _LineIndex, name: str
) -> Experiment:
    def fail(line: int, message: str) -> ExperimentFileError:
        return ExperimentFileError(f"{name}, line {line}: [{nudge_type}] {message}")

    for key in table:
        if key not in ("mode", "min_share", "variants"):
            raise fail(lines.of(nudge_type, key=key), f"unknown key {key!r}")
    mode = table.get("mode", "ab")
    if mode not in MODES:
        raise fail(lines.of(nudge_type, key="mode"), f"mode must be one of {', '.join(MODES)}")
    min_share = table.get("min_share", DEFAULT_MIN_SHARE)
    if isinstance(min_share, bool) or not isinstance(min_share, int | float):
        raise fail(lines.of(nudge_type, key="min_share"), "min_share must be a number")
    raw_variants = table.get("variants", [])
    if not isinstance(raw_variants, list) or len(raw_variants) < 2:
        raise fail(lines.of(nudge_type), "needs at least two [[variants]]")
    variants: list[Variant] = []
    for index, raw in enumerate(raw_variants):
        section = (nudge_type, "variants", index)
        if not isinstance(raw, dict):
            raise fail(lines.of(nudge_type), "variants must be tables")
        for key in raw:
            if key not in ("id", "weight", "messages"):
                raise fail(lines.of(*section, key=key), f"unknown key {key!r} in a variant")
        variant_id = raw.get("id")
        if not isinstance(variant_id, str) or not variant_id.strip():
            raise fail(lines.of(*section, key="id"), "each variant needs an id (a text)")
        weight = raw.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise fail(lines.of(*section, key="weight"), "weight must be a number above 0")
        messages = raw.get("messages")
        if not isinstance(messages, dict) or not all(
            isinstance(v, str) and v.strip() for v in messages.values()
        ):
            raise fail(lines.of(*section, key="messages"), "messages must map languages to texts")
        if "fr" not in messages:
            raise fail(
                lines.of(*section, key="messages"),
                f"variant {variant_id!r} has no French message (fr)",
            )
        variants.append(Variant(variant_id, dict(messages), float(weight)))
    try:
        return Experiment(nudge_type, mode, tuple(variants), float(min_share))
    except ExperimentInvalidError as error:
        line = lines.of(nudge_type, key="min_share") or lines.of(nudge_type)
        raise fail(line, error.message) from None


class _LineIndex:
    """Where each table, array-of-tables entry and key starts, as 1-based line numbers.

    ``tomllib`` gives values, not positions; this scan of the headers and ``key =``
    lines is enough for files shaped like the shipped one.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[object, ...], int] = {}
        counts: dict[str, int] = {}
        current: tuple[object, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                parts = tuple(part.strip().strip('"') for part in header.group(2).split("."))
                if header.group(1):  # [[a.b]]: the next entry of an array of tables
                    dotted = ".".join(parts)
                    index = counts.get(dotted, 0)
                    counts[dotted] = index + 1
                    current = (*parts, index)
                else:
                    current = parts
                self._lines.setdefault(current, number)
                self._lines.setdefault(parts[:1], number)
                continue
            key = _KEY.match(line)
            if key and current:
                self._lines.setdefault((*current, "=", key.group(1)), number)

    def of(self, *section: object, key: str | None = None) -> int:
        if key is not None and (*section, "=", key) in self._lines:
            return self._lines[(*section, "=", key)]
        return self._lines.get(tuple(section), self._lines.get(tuple(section[:1]), 1))
