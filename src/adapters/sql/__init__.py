"""What the SQL stores (PostgreSQL, SQLite) share."""
