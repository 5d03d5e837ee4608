"""The claim reads timestamps in UTC whatever the server's session time zone.

PostgreSQL's claim runs as the driver's SQL (``DriverStatement``), without SQLAlchemy's
result processing: the driver hands ``timestamptz`` values back in the session's time
zone, and the inbox brings them to UTC itself.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import psycopg
import pytest

from src.domain.apps import default_catalogue
from src.domain.events import new_event
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.integration.store.conftest import T0


@pytest.mark.postgres
def test_a_claim_in_another_session_time_zone_reads_the_same_instants_in_utc(
    postgres_url: str,
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        name = connection.info.dbname
        connection.execute(f"ALTER DATABASE \"{name}\" SET TimeZone = 'Asia/Kolkata'")
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        inbox = container.inbox()
        inbox.append(
            [
                new_event(
                    default_catalogue(),
                    event_type="letter.generated",
                    app_source="phoenix-letters",
                    user_id="u1",
                    payload={"company": "Airbus"},
                    timestamp=T0,
                )
            ]
        )
        with container.engine().connect() as connection:
            assert connection.exec_driver_sql("SHOW TimeZone").scalar() == "Asia/Kolkata"
        (claimed,) = inbox.claim(10, T0, T0 + timedelta(minutes=5), "h")
    finally:
        close_flywheel(container)
    assert claimed.timestamp == T0
    assert claimed.timestamp.utcoffset() == timedelta(0)
    assert claimed.timestamp.tzinfo == UTC
    assert claimed.unreadable is None
