"""The bridge's outbox on a real 2 MB disk (a tmpfs), while the store goes away and back.

What SQLite's own page cap cannot see (its write-ahead log) filled such a disk with a few
hundred events, after which delivered rows could not be deleted: sent again every round,
and every event of the next outage dropped. Here the outbox counts all of its files,
keeps room to delete what it delivered, never sends a delivered row twice, and takes
events again once the disk has room.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from bridge_support import (
    TcpProxy,
    closed_port,
    fill_up,
    outbox_hashes,
    small_disk,
    sql_config,
    stored,
    wait_for,
    with_port,
)
from phoenix_bridge import EmitOutcome, PhoenixEventBridge
from phoenix_bridge.factory import make_transport
from phoenix_bridge.transport import BridgeTransport, Row

pytestmark = pytest.mark.postgres
LETTERS = "phoenix-letters"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk", "2m") as folder:
        yield folder


class Counting:
    """The real transport, counting the rows it delivered."""

    def __init__(self, inner: BridgeTransport) -> None:
        self.inner = inner
        self.delivered: Counter[str] = Counter()

    def deliver(self, rows: Sequence[Row], access_token: str | None = None) -> int:
        duplicates = self.inner.deliver(rows, access_token=access_token)
        self.delivered.update(str(row["event_hash"]) for row in rows)
        return duplicates

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def files(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir() if path.name.startswith("o.db"))


def test_a_full_small_disk_delivers_removes_and_takes_events_again(
    store: str, proxy: TcpProxy, disk: Path
) -> None:
    config = sql_config(with_port(store, proxy.port), disk / "o.db")
    with PhoenixEventBridge(LETTERS, config) as bridge:
        proxy.cut()
        outcomes = [
            bridge.emit("letter.generated", f"u{n}", {"company": "Airbus", "n": n})
            for n in range(5000)
        ]
        queued = outcomes.count(EmitOutcome.QUEUED)
        dropped = [outcome for outcome in outcomes if outcome == EmitOutcome.DROPPED]
        assert queued + len(dropped) == 5000
        assert queued > 2000, queued  # the rows fill the disk, not the log
        assert all("full" in outcome.reason for outcome in dropped)
        assert bridge.pending() == queued
        proxy.restore()
        bridge.get_nudges("u0")  # the app renders a page: the store answers
        wait_for(lambda: bridge.pending() == 0, timeout=120, what="the outbox to drain")
        assert outbox_hashes(disk / "o.db") == []  # delivered rows left the file
        proxy.cut()
        again = [bridge.emit("letter.generated", f"v{n}") for n in range(200)]
        assert again == [EmitOutcome.QUEUED] * 200
        proxy.restore()
        bridge.get_nudges("u0")
        wait_for(lambda: bridge.pending() == 0, timeout=60, what="the second outage's events")
    assert len(stored(store)) == queued + 200


def test_the_cap_counts_every_file_of_the_outbox(store: str, tmp_path: Path) -> None:
    cap = 256 * 1024
    outbox = tmp_path / "o.db"
    config = sql_config(with_port(store, closed_port()), outbox, outbox_max_bytes=cap)
    with PhoenixEventBridge(LETTERS, config, background_flush=False) as bridge:
        outcomes = [bridge.emit("letter.generated", f"u{n}", {"n": n}) for n in range(3000)]
        assert 0 < outcomes.count(EmitOutcome.QUEUED) < 3000
        assert files(tmp_path) <= cap, sorted(p.name for p in tmp_path.iterdir())


def test_delivered_events_are_never_sent_again_on_a_full_disk_and_leave_when_room_returns(
    store: str, proxy: TcpProxy, disk: Path
) -> None:
    config = sql_config(with_port(store, proxy.port), disk / "o.db")
    transport = Counting(make_transport(config))
    with PhoenixEventBridge(LETTERS, config, transport=transport) as bridge:
        proxy.cut()
        assert {bridge.emit("letter.generated", f"u{n}") for n in range(60)} == {EmitOutcome.QUEUED}
        ballast = fill_up(disk)  # something else takes the rest of the disk
        assert os.statvfs(disk).f_bavail == 0
        proxy.restore()
        bridge.get_nudges("u0")
        wait_for(lambda: bridge.pending() == 0, timeout=120, what="the outbox to drain")
        wait_for(lambda: bridge.flush() == 0 and bridge.flush() == 0, what="more rounds")
        assert set(transport.delivered.values()) == {1}  # each sent once, none again
        assert len(transport.delivered) == 60
        ballast.unlink()  # room again: whatever was left in the file leaves now
        wait_for(lambda: outbox_hashes(disk / "o.db") == [], what="the delivered rows to go")
        proxy.cut()
        assert bridge.emit("letter.generated", "later") == EmitOutcome.QUEUED
    assert len(stored(store)) == 60
