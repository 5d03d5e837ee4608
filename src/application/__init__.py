"""Use cases: ingest events, drain the queue into journeys, project and query read models."""
