"""The read models on SQLAlchemy Core: projection writes, journey queries, analytics."""
