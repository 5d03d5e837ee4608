"""Which transport the bridge uses, where its outbox lives, and how long it may wait.

The bridge runs inside the apps, not in the worker, so it cannot use the worker's pydantic
settings; ``from_env`` reads the same variable names as the service (``SUPABASE_URL``,
``DATABASE_URL``, …) so one ``.env`` file serves both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

TransportName = Literal["supabase", "sql", "http"]
DEFAULT_OUTBOX = Path.home() / ".phoenix_outbox.db"


class BridgeConfigError(ValueError):
    """No transport can be chosen from the settings given."""


@dataclass(frozen=True)
class BridgeConfig:
    transport: TransportName
    supabase_url: str | None = None
    supabase_key: str | None = None
    database_url: str | None = None
    api_url: str | None = None
    api_token: str | None = None
    outbox_path: Path = DEFAULT_OUTBOX
    timeout_seconds: float = 2.0
    flush_interval_seconds: float = 5.0
    # Probing a down store costs one failed connection; a short cap bounds how long an
    # idle app's outbox waits after the store's return (any answer to the app wakes it).
    max_backoff_seconds: float = 10.0
    # Beyond this size the outbox answers as a full disk would (None: only the disk limits).
    outbox_max_bytes: int | None = None
    batch_size: int = 200

    def __post_init__(self) -> None:
        needed = {
            "supabase": ("supabase_url", "supabase_key"),
            "sql": ("database_url",),
            "http": ("api_url",),
        }[self.transport]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise BridgeConfigError(
                f"the {self.transport} transport needs {', '.join(missing).upper()}"
            )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> BridgeConfig:
        """The first transport the environment allows: HTTP API, then Supabase, then SQL.

        ``FLYWHEEL_API_URL`` (+ ``FLYWHEEL_API_TOKEN``) picks the HTTP API;
        ``SUPABASE_URL`` + ``SUPABASE_ANON_KEY`` (or ``SUPABASE_SERVICE_ROLE_KEY``) picks
        Supabase REST; a ``postgresql://`` ``DATABASE_URL`` picks direct SQL.
        ``PHOENIX_BRIDGE_TRANSPORT`` forces one; ``PHOENIX_OUTBOX_PATH`` moves the outbox.
        """
        env = os.environ if environ is None else environ
        key = env.get("SUPABASE_ANON_KEY") or env.get("SUPABASE_SERVICE_ROLE_KEY")
        database_url = env.get("DATABASE_URL", "")
        forced = env.get("PHOENIX_BRIDGE_TRANSPORT")
        transport: TransportName
        if forced in ("supabase", "sql", "http"):
            transport = cast(TransportName, forced)
        elif env.get("FLYWHEEL_API_URL"):
            transport = "http"
        elif env.get("SUPABASE_URL") and key:
            transport = "supabase"
        elif database_url.startswith(("postgresql://", "postgres://", "postgresql+")):
            transport = "sql"
        else:
            raise BridgeConfigError(
                "set FLYWHEEL_API_URL, or SUPABASE_URL and SUPABASE_ANON_KEY, "
                "or a postgresql:// DATABASE_URL to choose the bridge's transport"
            )
        values: dict[str, object] = {
            "transport": transport,
            "supabase_url": env.get("SUPABASE_URL"),
            "supabase_key": key,
            "database_url": database_url or None,
            "api_url": env.get("FLYWHEEL_API_URL"),
            "api_token": env.get("FLYWHEEL_API_TOKEN"),
        }
        if env.get("PHOENIX_OUTBOX_PATH"):
            values["outbox_path"] = Path(env["PHOENIX_OUTBOX_PATH"])
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]  # values typed loosely on purpose
