"""The flywheel through a real transaction pooler (PgBouncer, pool_mode=transaction).

Supabase's pooler on port 6543 behaves the same way: consecutive transactions of one
client land on different server connections, so nothing may rely on session state such
as prepared statements.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from src.entrypoints.runtime import close_flywheel, open_flywheel
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def pooler_url(postgres_url: str) -> Iterator[str]:
    if not os.path.exists(PGBOUNCER):
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is required in CI (.ci/run installs it)")
        pytest.skip("pgbouncer is not installed")
    target = make_url(postgres_url)
    port = free_port()
    # PgBouncer refuses to run as root and drops to ``postgres``, which must read this
    # folder: pytest's own tmp_path sits under a private directory.
    tmp_path = Path(tempfile.mkdtemp(prefix="pf-pgbouncer-"))
    tmp_path.chmod(0o755)
    (tmp_path / "users.txt").write_text('"postgres" ""\n')
    config = tmp_path / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={target.host} port={target.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\n"
        f"unix_socket_dir = {tmp_path}\n"
        "auth_type = trust\n"
        f"auth_file = {tmp_path / 'users.txt'}\n"
        "pool_mode = transaction\n"
        "default_pool_size = 4\nmax_client_conn = 200\n"
    )
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    process = subprocess.Popen([PGBOUNCER, *user, str(config)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None:
            pytest.fail(f"pgbouncer did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.05)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/{target.database}?pooler=transaction"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_the_whole_path_works_through_a_transaction_pooler(pooler_url: str) -> None:
    container = open_flywheel(make_settings(pooler_url), migrate=True)
    try:
        rows = [
            {"event_type": t, "app_source": a, "user_id": f"u{n % 41}", "idempotency_key": str(n)}
            for n, (t, a) in enumerate(
                [("letter.generated", "phoenix-letters"), ("cv.uploaded", "phoenix-cv")] * 300
            )
        ]
        assert container.ingestion().publish(rows).accepted == 600
        summary = asyncio.run(container.processor().drain())
        figures = container.queries().get_ecosystem(30)
        nudges = container.queries().list_active_nudges("u0", "phoenix-letters")
    finally:
        close_flywheel(container)
    assert (summary.processed, summary.failed, summary.dead) == (600, 0, 0)
    assert (figures.total_events, figures.unique_users) == (600, 41)
    assert nudges == []  # every user used both apps
