"""The rule book in the store (catalogue, experiments, settings), on SQLite and PostgreSQL.

``publish`` makes the store's tables equal to the book of the code that starts, in one
transaction: upserts, then removes the entries no module (or experiments file) declares
any more. Upserts rather than delete-then-insert: workers starting together publish the
same rows, and two inserts of one key would collide. ``nudge_rules`` reads back what the
nudge rules need, for a store whose rules run in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, select, tuple_

from src.adapters.sql.database import read_connection
from src.adapters.sql.statements import upsert_of
from src.adapters.sql.tables import apps, event_types, nudge_settings, nudge_types, nudge_variants
from src.application.nudge_policy import NudgeRules, NudgeTypeEntry, VariantEntry
from src.application.ports.nudges import NudgeSettings
from src.application.rule_book import RuleBook


class SqlAlchemyRuleBookStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = upsert_of(engine)

    def publish(self, book: RuleBook) -> None:
        settings = book.settings
        with self._engine.begin() as connection:
            self._replace(
                connection,
                apps,
                ("app_source",),
                [{"app_source": a.app_source, "title": a.title} for a in book.apps],
            )
            self._replace(
                connection,
                event_types,
                ("event_type",),
                [
                    {
                        "event_type": e.event_type,
                        "app_source": e.app_source,
                        "description": e.description,
                        "payload_fields": [dict(field) for field in e.payload_fields],
                    }
                    for e in book.event_types
                ],
            )
            self._replace(
                connection,
                nudge_types,
                ("nudge_type",),
                [
                    {
                        "nudge_type": t.nudge_type,
                        "shown_in": t.shown_in,
                        "target_app": t.target_app,
                        "kind": t.kind,
                        "messages": dict(t.messages),
                    }
                    for t in book.nudge_types
                ],
            )
            self._replace(
                connection,
                nudge_variants,
                ("nudge_type", "variant"),
                [
                    {
                        "nudge_type": v.nudge_type,
                        "variant": v.variant,
                        "position": v.position,
                        "mode": v.mode,
                        "weight": v.weight,
                        "messages": dict(v.messages),
                    }
                    for v in book.variants
                ],
            )
            self._replace(
                connection,
                nudge_settings,
                ("id",),
                [
                    {
                        "id": 1,
                        "cooldown_hours": settings.cooldown_hours,
                        "max_per_day": settings.max_per_day,
                        "attribution_days": settings.attribution_days,
                    }
                ],
            )

    def _replace(
        self,
        connection: Connection,
        table: Table,
        keys: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
    ) -> None:
        if rows:
            statement = self._insert(table)
            others = [c.name for c in table.columns if c.name not in keys]
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=list(keys),
                    set_={name: statement.excluded[name] for name in others},
                ),
                list(rows),
            )
        columns = tuple_(*(table.c[key] for key in keys))
        kept = [tuple(row[key] for key in keys) for row in rows]
        connection.execute(delete(table).where(~columns.in_(kept)) if kept else delete(table))

    def nudge_rules(self) -> NudgeRules:
        with read_connection(self._engine) as connection:
            found = connection.execute(select(nudge_settings)).first()
            types = connection.execute(select(nudge_types)).all()
            variants = connection.execute(select(nudge_variants)).all()
        if found is None:
            raise LookupError("no nudge settings in the store: it was never started")
        return NudgeRules(
            settings=NudgeSettings(
                cooldown_hours=float(found.cooldown_hours),
                max_per_day=int(found.max_per_day),
                attribution_days=int(found.attribution_days),
            ),
            nudge_types={
                row.nudge_type: NudgeTypeEntry(
                    row.nudge_type, row.shown_in, row.target_app, row.kind, dict(row.messages)
                )
                for row in types
            },
            variants=[
                VariantEntry(
                    row.nudge_type,
                    row.variant,
                    int(row.position),
                    dict(row.messages),
                    row.mode,
                    float(row.weight),
                )
                for row in variants
            ],
        )
