"""A PostgreSQL store without one of the schema file's functions the code calls asks for
``migrate`` (a store an older version made), and ``migrate`` brings it back."""

from __future__ import annotations

import pytest

from src.adapters.sql.database import STORE_FUNCTIONS
from src.application.errors import SchemaMissingError
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings


@pytest.mark.postgres
@pytest.mark.parametrize("function", STORE_FUNCTIONS)
def test_a_store_without_a_function_asks_for_migrate(postgres_url: str, function: str) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    container = open_flywheel(make_settings(postgres_url))
    try:
        with container.engine().begin() as connection:
            connection.exec_driver_sql(f"DROP FUNCTION {function} CASCADE")
    finally:
        close_flywheel(container)
    name = function.split("(")[0].split(".")[-1]
    with pytest.raises(SchemaMissingError, match=rf"no function .*{name}.*migrate"):
        open_flywheel(make_settings(postgres_url))
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    close_flywheel(open_flywheel(make_settings(postgres_url)))
