"""``ScalingSignalSource`` on PostgreSQL: the store's own function, as KEDA queries it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, text

from src.adapters.sql.database import read_connection
from src.application.scaling import ScalingSignal

SIGNAL = text(
    "SELECT claimable, useful_workers, oldest_pending_age_seconds FROM phoenix_scaling_signal()"
)


class PostgresScalingSignal:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def scaling_signal(self, now: datetime) -> ScalingSignal:
        with read_connection(self._engine) as connection:
            claimable, workers, age = connection.execute(SIGNAL).one()
        return ScalingSignal(
            claimable=int(claimable),
            useful_workers=int(workers),
            oldest_pending_age_seconds=None if age is None else float(age),
        )
