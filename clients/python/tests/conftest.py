"""Fixtures the bridge's tests share: the flywheel's store on PostgreSQL, migrated, and a
TCP proxy in front of it that a test can cut. The databases come from the repository's
fixtures (``tests/databases.py``): the bridge writes to the service's schema."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from bridge_support import TcpProxy

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings


@pytest.fixture
def store(postgres_url: str) -> str:
    """A fresh PostgreSQL database that ``migrate`` made into the flywheel's store."""
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    return postgres_url


@pytest.fixture
def proxy(store: str) -> Iterator[TcpProxy]:
    """The store's port behind a proxy: ``cut()`` drops every connection, ``restore()``
    lets them through again."""
    relay = TcpProxy("127.0.0.1", urlsplit(store).port or 5432)
    yield relay
    relay.close()
