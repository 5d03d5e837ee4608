"""A test-only analyser, loaded by the real service through ``EVENT_ANALYSERS``.

It takes too long on events whose payload says ``"slow": true`` and fails the first
attempt of those that say ``"fail_once": true``. The first attempts are remembered as
files in ``FLAKY_ANALYSER_DIR``, so "once" holds across the processes (``serve`` and a
``worker``) that share the queue.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from src.application.ports.inbox import StoredEvent


class FlakyAnalyser:
    def __init__(self) -> None:
        self.marks = Path(os.environ["FLAKY_ANALYSER_DIR"])

    async def analyse(self, event: StoredEvent) -> None:
        if event.payload.get("slow"):
            await asyncio.sleep(60)
        if event.payload.get("fail_once"):
            try:
                with open(self.marks / str(event.id), "x"):
                    pass
            except FileExistsError:
                return
            raise RuntimeError(f"flaky analyser: first attempt at event {event.id} fails")
