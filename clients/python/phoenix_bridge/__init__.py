"""The PhoenixEventBridge: the small library a Phoenix app imports to publish its events.

Importing it costs only the standard library: the worker's heavy dependencies
(eventsourcing, SQLAlchemy, Litestar, pydantic, dependency-injector) are never loaded,
and each transport imports its own client (psycopg, supabase, httpx) when first used.
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
