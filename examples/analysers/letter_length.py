"""An example analyser, plugged in without editing the flywheel.

An analyser is any object with ``async def analyse(self, event)``; the worker runs it on
every event before folding it into the user's journey, ``EVENT_CONCURRENCY`` at a time,
each call bounded by ``EVENT_PROCESSING_TIMEOUT``. Raising fails that event only: it is
retried with backoff, its error kept in ``ai_processing_error``, then it ends ``dead``
after ``EVENT_MAX_ATTEMPTS``. A slow call (an AI API, say) ends as "Processing timeout".

This one looks at generated letters: it logs the unusually long ones, and refuses a
``word_count`` that is not a whole number (a bug in the publishing app worth seeing).

Load it by name, from this folder::

    PYTHONPATH=examples/analysers \\
    EVENT_ANALYSERS=letter_length:LetterLengthAnalyser phoenix-flywheel worker

or, from a package of your own, declare an entry point; installing the package is
enough::

    [project.entry-points."phoenix_flywheel.analysers"]
    letter_length = "my_package.letter_length:LetterLengthAnalyser"
"""

from __future__ import annotations

import logging

from src.application.ports.inbox import StoredEvent

logger = logging.getLogger(__name__)

LONG_LETTER_WORDS = 800


class LetterLengthAnalyser:
    """Built once per process (the class is called without arguments)."""

    async def analyse(self, event: StoredEvent) -> None:
        if event.event_type != "letter.generated":
            return
        words = event.payload.get("word_count")
        if words is None:
            return
        if not isinstance(words, int) or isinstance(words, bool) or words < 0:
            raise ValueError(f"word_count must be a whole number, got {words!r}")
        if words > LONG_LETTER_WORDS:
            logger.info(
                "long letter",
                extra={"event_id": event.id, "user_id": event.user_id, "words": words},
            )
