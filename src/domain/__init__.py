"""The business core: the event catalogue, hashing, nudge rules and the UserJourney aggregate.

Nothing here does I/O; only the standard library and ``eventsourcing.domain`` are imported.
"""
