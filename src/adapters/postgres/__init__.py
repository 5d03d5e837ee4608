"""The PostgreSQL store: its statements, its eventsourcing recorder, its SQL functions called."""
