"""CPU time of processes of this machine, for the benchmarks' CPU-per-event columns."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (0 once it exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextmanager
def sampled(
    pids: Callable[[], Iterable[int]], interval: float = 0.05
) -> Iterator[dict[int, float]]:
    """The last CPU time seen of each process ``pids()`` names, sampled every ``interval``.

    For processes that may exit before anyone can ask them (the server process of a
    connection its client closes): their figure is at most one interval short.
    """
    seen: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        for pid in pids():
            spent = cpu_seconds(pid)
            if spent >= seen.get(pid, 0.0):
                seen[pid] = spent

    def loop() -> None:
        while not stop.wait(interval):
            sample()

    sample()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()
        sample()
