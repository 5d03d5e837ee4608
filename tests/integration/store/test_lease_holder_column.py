"""``migrate`` brings a table an older version made up to the lease holder column."""

from __future__ import annotations

from datetime import timedelta

import pytest

from src.application.errors import SchemaMissingError
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.integration.store.conftest import T0


def drop_holder_column(url: str) -> None:
    """The table as it was before the column existed."""
    container = open_flywheel(make_settings(url), migrate=True)
    try:
        with container.engine().begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_phoenix_events_locked_by")
            # The throughput's index came later and names the column (SQLite refuses to
            # drop a column an index names).
            connection.exec_driver_sql("DROP INDEX ix_phoenix_events_processed_at")
            connection.exec_driver_sql("ALTER TABLE phoenix_events DROP COLUMN locked_by")
    finally:
        close_flywheel(container)


def test_migrate_adds_the_lease_holder_column_to_an_older_table(store_url: str) -> None:
    drop_holder_column(store_url)
    if store_url.startswith("postgresql"):
        # A shared PostgreSQL changes only on `migrate`; until then, the worker says so.
        with pytest.raises(SchemaMissingError, match=r"phoenix_events\.locked_by.*migrate"):
            open_flywheel(make_settings(store_url))
    container = open_flywheel(make_settings(store_url), migrate=True)
    try:
        container.ingestion().publish(
            [{"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}]
        )
        (claimed,) = container.inbox().claim(10, T0, T0 + timedelta(seconds=15), "worker:1")
        assert container.inbox().renew("worker:1", T0 + timedelta(seconds=30)) == 1
    finally:
        close_flywheel(container)
    assert claimed.attempts == 1
