"""A test-only analyser that takes ``PACED_ANALYSER_SECONDS`` on each event.

Loaded through ``EVENT_ANALYSERS``, it gives a worker a known pace: bounded runs that
outlast their limit, and a simulated autoscaler whose workers each hold a known rate.
"""

from __future__ import annotations

import asyncio
import os

from src.application.ports.inbox import StoredEvent


class PacedAnalyser:
    def __init__(self) -> None:
        self.seconds = float(os.environ.get("PACED_ANALYSER_SECONDS", "0"))

    async def analyse(self, event: StoredEvent) -> None:
        await asyncio.sleep(self.seconds)
