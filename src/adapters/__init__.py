"""Adapters: the store (SQLAlchemy on SQLite or PostgreSQL), eventsourcing persistence, clock."""
