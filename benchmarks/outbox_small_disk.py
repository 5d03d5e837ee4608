"""The bridge's outbox on a 2 MB disk through an outage and back: prints what it kept.

    sudo .venv/bin/python -m benchmarks.outbox_small_disk [--emits 5000] [--size 2m]

Mounts a tmpfs of ``--size`` (root only), puts the outbox there, cuts the store off (a
TCP proxy in front of PostgreSQL, ``PHOENIX_BENCH_POSTGRES_URL``, default the local
server, in a throw-away database), emits ``--emits`` events, brings the store back, then
cuts it off again for 200 more emits. Prints the outcomes, the outbox's files, how long
the outbox took to drain (at most 120 s) and what the file still holds.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from phoenix_bridge import BridgeConfig, PhoenixEventBridge

from benchmarks.throughput import postgres_store
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

# The TCP proxy and the outbox reader are the bridge's test helpers (clients/python/tests).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python" / "tests"))
from bridge_support import TcpProxy, outbox_hashes
from test_bridge_sql import with_port

DRAIN_LIMIT_SECONDS = 120


def sizes(folder: Path) -> str:
    return ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in sorted(folder.iterdir()))


def run(emits: int, size: str) -> None:
    with postgres_store() as url, tempfile.TemporaryDirectory() as scratch:
        close_flywheel(open_flywheel(Settings(_env_file=None, database_url=url), migrate=True))  # type: ignore[call-arg]  # pydantic-settings init kwarg
        disk = Path(scratch)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", scratch], check=True)
        proxy = TcpProxy("127.0.0.1", urlsplit(url).port or 5432)
        try:
            config = BridgeConfig(
                transport="sql",
                database_url=with_port(url, proxy.port),
                outbox_path=disk / "o.db",
                flush_interval_seconds=1,
                max_backoff_seconds=2,
            )
            with PhoenixEventBridge("phoenix-letters", config) as bridge:
                proxy.cut()
                outcomes = Counter(
                    str(bridge.emit("letter.generated", f"u{n}", {"company": "Airbus", "n": n}))
                    for n in range(emits)
                )
                print(f"store down, {emits} emits: {dict(outcomes)}")
                print(f"  outbox files: {sizes(disk)}")
                proxy.restore()
                started = time.monotonic()
                while bridge.pending() and time.monotonic() - started < DRAIN_LIMIT_SECONDS:
                    time.sleep(0.1)
                waited = time.monotonic() - started
                print(
                    f"store back: pending() {bridge.pending()} after {waited:.1f} s;"
                    f" rows left in the file {len(outbox_hashes(disk / 'o.db'))}"
                )
                print(f"  outbox files: {sizes(disk)}")
                proxy.cut()
                again = Counter(str(bridge.emit("letter.generated", f"v{n}")) for n in range(200))
                print(f"store down again, 200 emits: {dict(again)}")
            with psycopg.connect(url) as connection:
                row = connection.execute("SELECT count(*) FROM phoenix_events").fetchone()
            print(f"events in the store: {row[0] if row else 0}")
        finally:
            proxy.close()
            subprocess.run(["umount", "--lazy", scratch], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--emits", type=int, default=5000)
    parser.add_argument("--size", default="2m")
    args = parser.parse_args()
    logging.getLogger("phoenix_flywheel.bridge").setLevel(logging.CRITICAL)  # one per event
    run(args.emits, args.size)


if __name__ == "__main__":
    main()
