"""The shipped catalogue as SQL, for the block of the schema file between the markers below.

A Supabase user who only pastes the file gets the app modules' catalogue, experiments and
the settings' defaults from this block; ``migrate`` and every start then write the live
ones (``SqlAlchemyRuleBookStore``). The block only fills what is missing: it never
overwrites what a start wrote, and it seeds the experiments only into an empty table.
A test holds the block equal to what ``render`` makes of the modules;
``python -m src.entrypoints.shipped_catalogue --write`` rewrites it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from src.application.rule_book import RuleBook

BEGIN = "-- <shipped catalogue>"
END = "-- </shipped catalogue>"
HEADER = (
    "-- Generated from the app modules: edit them, then run\n"
    "-- `python -m src.entrypoints.shipped_catalogue --write`. It fills what is missing only;\n"
    "-- `migrate` and every start of the worker or the server write the live catalogue.\n"
)


def render(book: RuleBook) -> str:
    """The block, markers included."""
    statements = [
        _insert(
            "phoenix_apps", ("app_source", "title"), [(a.app_source, a.title) for a in book.apps]
        ),
        _insert(
            "phoenix_event_types",
            ("event_type", "app_source", "description", "payload_fields"),
            [
                (e.event_type, e.app_source, e.description, _json(list(e.payload_fields)))
                for e in book.event_types
            ],
        ),
        _insert(
            "phoenix_nudge_types",
            ("nudge_type", "shown_in", "target_app", "kind", "messages"),
            [
                (t.nudge_type, t.shown_in, t.target_app, t.kind, _json(dict(t.messages)))
                for t in book.nudge_types
            ],
        ),
        _insert(
            "phoenix_nudge_settings",
            ("id", "cooldown_hours", "max_per_day", "attribution_days"),
            [
                (
                    1,
                    book.settings.cooldown_hours,
                    book.settings.max_per_day,
                    book.settings.attribution_days,
                )
            ],
        ),
    ]
    if book.variants:
        columns = ("nudge_type", "variant", "position", "mode", "weight", "messages")
        rows = [
            (v.nudge_type, v.variant, v.position, v.mode, v.weight, _json(dict(v.messages)))
            for v in book.variants
        ]
        names, values = ", ".join(columns), _rows(rows)
        # Seeded into an empty table only: a start publishes the live experiments.
        empty = "WHERE NOT EXISTS (SELECT 1 FROM phoenix_nudge_variants);"
        statements.append(
            f"INSERT INTO phoenix_nudge_variants ({names})\nSELECT * FROM (VALUES\n"
            f"{values}\n) AS shipped ({names})\n{empty}"
        )
    return f"{BEGIN}\n{HEADER}" + "\n".join(statements) + f"\n{END}"


def block_of(text: str) -> str:
    """The block as it stands in ``text``, markers included."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def with_block(text: str, block: str) -> str:
    """``text`` with its block replaced by ``block``."""
    return text.replace(block_of(text), block)


def _insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n{_rows(rows)}\nON CONFLICT DO NOTHING;"
    )


def _rows(rows: Iterable[Sequence[object]]) -> str:
    return ",\n".join(f"    ({', '.join(_literal(value) for value in row)})" for row in rows)


class _Json(str):
    """A JSON document, written as a jsonb literal."""


def _json(value: object) -> _Json:
    return _Json(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _literal(value: object) -> str:
    if isinstance(value, _Json):
        return "'" + value.replace("'", "''") + "'::jsonb"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no literal for {value!r}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
