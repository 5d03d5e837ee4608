"""The capabilities the application needs from the outside world, one module each, as
Protocols with the records they carry beside them.

Signatures carry domain and application types only, so adapters (SQLite, PostgreSQL,
in-memory fakes) are interchangeable and each is held to one contract test.
"""
