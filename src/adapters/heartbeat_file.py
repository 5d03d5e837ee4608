"""A file whose modification time says when the worker last went round its loop.

A container's health check (``phoenix-flywheel worker-alive``) reads it from another
process: the worker has no port to poll. The file lives in the container's own
filesystem (``/tmp``), so each replica of a scaled worker has its own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


class HeartbeatFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def beat(self) -> None:
        self.path.touch(exist_ok=True)
        os.utime(self.path)

    def age_seconds(self) -> float | None:
        """Seconds since the last beat; None when there was none."""
        try:
            return max(time.time() - self.path.stat().st_mtime, 0.0)
        except FileNotFoundError:
            return None
