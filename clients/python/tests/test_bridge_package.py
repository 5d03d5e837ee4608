"""The bridge as apps get it: its own distribution, installed alone.

An app installs ``phoenix-event-bridge`` from ``clients/python`` and nothing of the
service; these tests install it so in a fresh virtual environment and use it there.
"""

from __future__ import annotations

import filecmp
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import phoenix_bridge
import pytest
from bridge_support import closed_port
from phoenix_bridge import BridgeConfig, EmitOutcome, PhoenixEventBridge

ROOT = Path(__file__).resolve().parents[3]
CLIENT = ROOT / "clients" / "python"
SERVICE_ONLY = ("eventsourcing", "litestar", "sqlalchemy", "dependency_injector", "pydantic")

IN_THE_APP = """
import importlib.metadata, importlib.util, json, sys
absent = [name for name in {service_only!r} if importlib.util.find_spec(name) is None]
from phoenix_bridge import BridgeConfig, PhoenixEventBridge
config = BridgeConfig(transport="http", api_url="http://127.0.0.1:{port}",
                      outbox_path={outbox!r}, timeout_seconds=1.0)
with PhoenixEventBridge("phoenix-letters", config, background_flush=False) as bridge:
    outcome = bridge.emit("letter.generated", "u1", {{"letter_id": "L1"}}, "L1")
    pending = bridge.pending()
print(json.dumps({{
    "absent": absent,
    "outcome": outcome,
    "pending": pending,
    "requires": importlib.metadata.requires("phoenix-event-bridge"),
    "from": importlib.util.find_spec("phoenix_bridge").origin,
    "loaded": sorted({{name.split(".")[0] for name in sys.modules}}),
}}))
"""


def test_the_bridge_installs_and_queues_in_a_fresh_environment_without_the_service(
    tmp_path: Path,
) -> None:
    venv = tmp_path / "app-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(CLIENT)],
        check=True,
        capture_output=True,
    )
    script = IN_THE_APP.format(
        service_only=SERVICE_ONLY, port=closed_port(), outbox=str(tmp_path / "outbox.db")
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    # Run from elsewhere than the checkout, so that nothing of it is importable.
    result = subprocess.run(
        [str(python), "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["absent"] == list(SERVICE_ONLY), "the service's dependencies came along"
    assert str(venv) in answer["from"]
    assert "src" not in answer["loaded"]
    # Every requirement belongs to an extra: the bare install is the standard library.
    assert all("extra ==" in requirement for requirement in answer["requires"] or [])
    # The store is unreachable: the event waits in the outbox, to be sent later.
    assert answer["outcome"] == "queued"
    assert answer["pending"] == 1


def test_the_bridge_under_test_is_this_checkouts() -> None:
    """``pip install -e .`` installs a copy of the bridge; tests of a stale copy would
    prove nothing about the code in clients/python."""
    installed = Path(phoenix_bridge.__file__).parent
    source = CLIENT / "phoenix_bridge"
    if installed == source:
        return  # editable: the source itself
    differing = [
        path.name
        for path in sorted(source.glob("*.py"))
        if not (installed / path.name).exists()
        or not filecmp.cmp(path, installed / path.name, shallow=False)
    ]
    assert differing == [], (
        f"the installed phoenix_bridge ({installed}) differs from clients/python in "
        f"{differing}: run `pip install -e ./clients/python`"
    )


class _Redirecting(http.server.BaseHTTPRequestHandler):
    def _moved(self) -> None:
        self.send_response(307)
        self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _moved  # noqa: N815 - http.server's handler names

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_api_url_that_redirects_keeps_events_rather_than_losing_them(
    redirecting_server: str, tmp_path: Path
) -> None:
    config = BridgeConfig(
        transport="http", api_url=redirecting_server, outbox_path=tmp_path / "o.db"
    )
    with PhoenixEventBridge("phoenix-letters", config, background_flush=False) as bridge:
        assert bridge.emit("letter.generated", "u1") == EmitOutcome.QUEUED
        assert bridge.pending() == 1
