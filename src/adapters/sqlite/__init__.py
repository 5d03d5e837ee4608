"""The embedded SQLite store: its statements, its eventsourcing recorder, its rules in Python."""
