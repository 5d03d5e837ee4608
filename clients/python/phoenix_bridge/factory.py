"""The transport a configuration names, built without importing its client library yet."""

from __future__ import annotations

from phoenix_bridge.config import BridgeConfig
from phoenix_bridge.transport import BridgeTransport


def make_transport(config: BridgeConfig) -> BridgeTransport:
    if config.transport == "sql":
        from phoenix_bridge.postgres_transport import PostgresTransport

        return PostgresTransport(str(config.database_url), config.timeout_seconds)
    if config.transport == "http":
        from phoenix_bridge.http_transport import HttpApiTransport

        return HttpApiTransport(str(config.api_url), config.api_token, config.timeout_seconds)
    from phoenix_bridge.supabase_transport import SupabaseRestTransport

    return SupabaseRestTransport(
        str(config.supabase_url), str(config.supabase_key), config.timeout_seconds
    )
