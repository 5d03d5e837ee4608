"""A real PgBouncer in transaction mode, started by tests that need a pooler."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_pgbouncer() -> None:
    if not os.path.exists(PGBOUNCER):
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is required in CI (.ci/run installs it)")
        pytest.skip("pgbouncer is not installed")


@contextmanager
def pgbouncer(target_url: str, port: int) -> Iterator[str]:
    """PgBouncer on ``port`` in front of ``target_url``'s server; yields the pooled URL."""
    require_pgbouncer()
    target = make_url(target_url)
    # PgBouncer refuses to run as root and drops to ``postgres``, which must read this
    # folder: pytest's own tmp_path sits under a private directory.
    folder = Path(tempfile.mkdtemp(prefix="pf-pgbouncer-"))
    folder.chmod(0o755)
    (folder / "users.txt").write_text('"postgres" ""\n')
    config = folder / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={target.host} port={target.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\n"
        f"unix_socket_dir = {folder}\n"
        "auth_type = trust\n"
        f"auth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\n"
        "default_pool_size = 4\nmax_client_conn = 200\n"
    )
    for path in folder.iterdir():
        path.chmod(0o644)
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    process = subprocess.Popen([PGBOUNCER, *user, str(config)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read() if process.stderr else b""
                pytest.fail(f"pgbouncer did not start: {stderr!r}")
            time.sleep(0.05)
        yield f"postgresql://postgres@127.0.0.1:{port}/{target.database}?pooler=transaction"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
