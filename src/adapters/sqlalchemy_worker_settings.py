"""``WorkerSettingsStore`` on SQLAlchemy: the one row of ``phoenix_worker_settings``.

Upserted, not replaced: workers starting together write the same row, and the last one
started wins, which is the setting the newest workers run with.
"""

from __future__ import annotations

from sqlalchemy import Engine

from src.adapters.sql.statements import upsert_of
from src.adapters.sql.tables import worker_settings


class SqlAlchemyWorkerSettings:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = upsert_of(engine)

    def publish(self, batch_size: int) -> None:
        statement = self._insert(worker_settings).values(id=1, batch_size=batch_size)
        with self._engine.begin() as connection:
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["id"], set_={"batch_size": statement.excluded.batch_size}
                )
            )
