"""A store seen as the nudge rules see it, for the contract suites: events in, the worker
run, nudges read and displayed, and time passing by back-dating every row that holds one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, select, update

from src.adapters.sql.tables import events, journey_entries, nudge_offers, nudges, nudges_sent
from src.application.ports.inbox import RequeueSelection
from src.application.ports.nudges import ActiveNudge
from src.domain.apps import default_catalogue
from src.domain.user_journey import nudge_id
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings

LETTERS, CV, RISE = "phoenix-letters", "phoenix-cv", "phoenix-rise"
APP_OF = {e.name: app.app_source for app in default_catalogue().apps for e in app.event_types}

# Every column that holds a moment the rules compare with now: moved back together.
TIMES: dict[Table, tuple[str, ...]] = {
    nudges_sent: ("shown_at",),
    nudges: ("detected_at", "converted_at"),
    events: ("timestamp", "received_at"),
    journey_entries: ("timestamp",),
    nudge_offers: ("offered_at",),
}


def back_date(engine: Engine, back: timedelta) -> None:
    """Every stored moment moves back by ``back``: as if that much time had passed, on a
    store whose clock (PostgreSQL's ``now()``) no test can move."""
    with engine.begin() as connection:
        for table, columns in TIMES.items():
            keys = list(table.primary_key.columns)
            for row in connection.execute(select(*keys, *(table.c[c] for c in columns))):
                moved = {c: row._mapping[c] - back for c in columns if row._mapping[c]}
                if moved:
                    connection.execute(
                        update(table)
                        .where(*(key == row._mapping[key.name] for key in keys))
                        .values(**moved)
                    )


@dataclass
class NudgeStore:
    container: Container
    kind: str

    @classmethod
    def open(cls, url: str, **settings: Any) -> NudgeStore:
        container = open_flywheel(make_settings(url, **settings), migrate=True)
        return cls(container, "postgresql" if url.startswith("postgresql") else "sqlite")

    def close(self) -> None:
        close_flywheel(self.container)

    def emit(self, user: str, *event_types: str, **fields: Any) -> None:
        self.container.ingestion().publish(
            [
                {"event_type": t, "app_source": APP_OF[t], "user_id": user, **fields}
                for t in event_types
            ]
        )

    def process(self) -> None:
        asyncio.run(self.container.processor().drain())

    def reprocess_everything(self) -> int:
        requeued = self.container.admin().force_reprocess(
            RequeueSelection(since=datetime(2000, 1, 1, tzinfo=UTC))
        )
        self.process()
        return requeued

    def nudges(self, user: str, app: str = LETTERS, lang: str = "fr") -> list[ActiveNudge]:
        return self.container.board().active_nudges(user, app, lang)

    def shown(self, user: str, app: str = LETTERS, lang: str = "fr") -> list[tuple[str, str]]:
        """(nudge type, variant) of each nudge to show."""
        return [(n.nudge_type, n.variant) for n in self.nudges(user, app, lang)]

    def show(self, nudge: str, app: str | None = None) -> datetime | None:
        return self.container.board().mark_shown(nudge, app)

    def time_passes(self, **delta: float) -> None:
        back_date(self.container.engine(), timedelta(**delta))

    def displays(self, nudge: str) -> int:
        with self.container.engine().connect() as connection:
            rows = connection.execute(
                select(nudges_sent.c.id).where(nudges_sent.c.nudge_id == nudge)
            ).all()
        return len(rows)

    def variant_of(self, user: str, nudge_type: str) -> str | None:
        with self.container.engine().connect() as connection:
            return connection.execute(
                select(nudges.c.variant).where(nudges.c.nudge_id == nudge_id(user, nudge_type))
            ).scalar_one_or_none()

    def by_rank(self, user: str) -> list[str]:
        """The user's nudge types, highest rank first, as the worker recorded them."""
        with self.container.engine().connect() as connection:
            rows = connection.execute(
                select(nudges.c.nudge_type, nudges.c.rank).where(nudges.c.user_id == user)
            ).all()
        return [str(t) for t, _ in sorted(rows, key=lambda row: (-row[1], row[0]))]

    def offers(self, user: str) -> list[tuple[str, str, str]]:
        with self.container.engine().connect() as connection:
            rows = connection.execute(
                select(nudge_offers.c.nudge_id, nudge_offers.c.nudge_type, nudge_offers.c.variant)
                .where(nudge_offers.c.user_id == user)
                .order_by(nudge_offers.c.nudge_type)
            ).all()
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    def execute(self, statement: Any) -> None:
        with self.container.engine().begin() as connection:
            connection.execute(statement)
