"""The bridge is what every app imports: it must stay light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("eventsourcing", "litestar", "sqlalchemy", "dependency_injector", "pydantic")


def test_importing_the_bridge_loads_none_of_the_workers_dependencies(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from phoenix_bridge import PhoenixEventBridge, BridgeConfig\n"
        "config = BridgeConfig(transport='sql', database_url='postgresql://x@127.0.0.1:1/x',\n"
        f"                      outbox_path={str(tmp_path / 'outbox.db')!r})\n"
        "bridge = PhoenixEventBridge('phoenix-cv', config, background_flush=False)\n"
        "bridge.close()\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "psycopg" not in loaded, "transport libraries are imported on first use only"
