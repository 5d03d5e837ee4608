"""The PhoenixEventBridge: the small library a Phoenix app imports to publish its events.

Its own distribution (``phoenix-event-bridge``), so an app installs it without the
worker's heavy dependencies (eventsourcing, SQLAlchemy, Litestar, pydantic,
dependency-injector). It needs only the standard library: the Supabase and SQL
transports import their client (supabase-py, psycopg, each an extra) when first used,
and the HTTP transport needs none.
"""

from phoenix_bridge.bridge import OutboxUnavailableError, PhoenixEventBridge
from phoenix_bridge.config import BridgeConfig
from phoenix_bridge.outbox import SqliteOutbox
from phoenix_bridge.transport import (
    BridgeTransport,
    EmitOutcome,
    TransportPermissionError,
    TransportRejectedError,
    TransportSchemaMissingError,
    TransportUnavailableError,
)

__all__ = [
    "BridgeConfig",
    "BridgeTransport",
    "EmitOutcome",
    "OutboxUnavailableError",
    "PhoenixEventBridge",
    "SqliteOutbox",
    "TransportPermissionError",
    "TransportRejectedError",
    "TransportSchemaMissingError",
    "TransportUnavailableError",
]
