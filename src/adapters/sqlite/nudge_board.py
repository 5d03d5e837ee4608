"""``NudgeBoard`` on the embedded SQLite store: the rows each answer needs, read here, and
the rules of ``src.application.nudge_policy`` applied to them (PostgreSQL applies the
same rules in SQL; one contract suite holds the two to the same answers)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Engine, select

from src.adapters.sql.database import read_connection
from src.adapters.sql.tables import events, nudge_offers, nudges, nudges_sent
from src.adapters.sqlalchemy_nudge_offers import displayed_offers
from src.adapters.sqlalchemy_rule_book import SqlAlchemyRuleBookStore
from src.application.nudge_policy import Display, UserNudges, needs_display, nudges_to_show
from src.application.ports.clock import Clock
from src.application.ports.nudges import ActiveNudge, NudgeRecord

NOT_COUNTED = ("duplicate", "dead")


class SqliteNudgeBoard:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._rule_book = SqlAlchemyRuleBookStore(engine)

    def active_nudges(self, user_id: str, app: str, language: str) -> list[ActiveNudge]:
        rules = self._rule_book.nudge_rules()
        with read_connection(self._engine) as connection:
            user = UserNudges(
                nudges=[
                    NudgeRecord(**row._mapping)
                    for row in connection.execute(select(nudges).where(nudges.c.user_id == user_id))
                ],
                displays=[
                    Display(row.nudge_id, row.app, row.shown_at)
                    for row in connection.execute(
                        select(
                            nudges_sent.c.nudge_id, nudges_sent.c.app, nudges_sent.c.shown_at
                        ).where(nudges_sent.c.user_id == user_id)
                    )
                ],
                active_apps=set(
                    connection.execute(
                        select(events.c.app_source)
                        .distinct()
                        .where(events.c.user_id == user_id, events.c.status.not_in(NOT_COUNTED))
                    ).scalars()
                ),
                offered=dict(
                    connection.execute(
                        select(nudge_offers.c.nudge_id, nudge_offers.c.variant).where(
                            nudge_offers.c.user_id == user_id
                        )
                    ).all()
                ),
            )
        shown, offers = nudges_to_show(user_id, app, language, self._clock.now(), user, rules)
        new = [offer for offer in offers if offer.nudge_id not in user.offered]
        if new:
            with self._engine.begin() as connection:
                connection.execute(
                    nudge_offers.insert().prefix_with("OR IGNORE"),
                    [
                        {
                            "nudge_id": offer.nudge_id,
                            "user_id": offer.user_id,
                            "nudge_type": offer.nudge_type,
                            "shown_in": offer.shown_in,
                            "target_app": offer.target_app,
                            "variant": offer.variant,
                            "offered_at": self._clock.now(),
                        }
                        for offer in new
                    ],
                )
        return shown

    def mark_shown(self, nudge_id: str, app: str | None = None) -> datetime | None:
        settings = self._rule_book.nudge_rules().settings
        now = self._clock.now()
        with self._engine.begin() as connection:  # the write lock: one display at a time
            found = (
                connection.execute(
                    select(nudges.c.user_id, nudges.c.shown_in).where(nudges.c.nudge_id == nudge_id)
                ).first()
                or connection.execute(
                    select(nudge_offers.c.user_id, nudge_offers.c.shown_in).where(
                        nudge_offers.c.nudge_id == nudge_id
                    )
                ).first()
            )
            if found is None:
                return None
            shown = [
                Display(nudge_id, row.app, row.shown_at)
                for row in connection.execute(
                    select(nudges_sent.c.app, nudges_sent.c.shown_at).where(
                        nudges_sent.c.nudge_id == nudge_id
                    )
                )
            ]
            if not needs_display(shown, now, settings):
                return max(d.shown_at for d in shown)
            connection.execute(
                nudges_sent.insert().values(
                    nudge_id=nudge_id,
                    user_id=found.user_id,
                    app=app or found.shown_in,
                    shown_at=now,
                )
            )
        return now

    def displayed_offers(self, user_ids: Collection[str]) -> dict[tuple[str, str], str]:
        return displayed_offers(self._engine, user_ids)
