"""Whether an error says the store went away, whichever library raised and wrapped it.

The worker must tell a failure of the store (the batch goes back, uncounted, whole) from
a failure of the data (the batch is saved in parts, and the events at fault count an
attempt). Asking the store afterwards is not enough: a database that restarts or a
connection that was cut answers again within the second, and innocent events would be
blamed. So the error itself is read.

An outage is:

* the connection failing on the client's side (refused, lost, reset, closed, a pool that
  could not get one): psycopg's ``OperationalError`` or ``InterfaceError`` with no
  SQLSTATE, and Python's own ``ConnectionError``;
* the server saying so: SQLSTATE class 08 (connection exception), 57P01 to 57P03 (admin
  shutdown, crash shutdown, cannot connect now: a restart) and 53300 (too many
  connections: none to be had for now);
* SQLAlchemy's disconnect flag (``connection_invalidated``).

Other driver errors (a deadlock, a lock or statement timeout, a constraint) are the
data's or the batch's, even when psycopg files them under ``OperationalError`` too. The
libraries wrap drivers' errors (``raise … from``; SQLAlchemy's ``orig``), so the chain is
followed. SQLite is a file in the worker's own process: it has no outage of this kind.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DBAPIError

OUTAGE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
CHAIN_LIMIT = 8


def is_outage(error: BaseException) -> bool:
    seen: BaseException | None = error
    for _ in range(CHAIN_LIMIT):
        if seen is None:
            return False
        if _says_outage(seen):
            return True
        seen = _cause(seen)
    return False


def _says_outage(error: BaseException) -> bool:
    if isinstance(error, ConnectionError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, psycopg.Error):
        sqlstate = error.sqlstate
        if sqlstate is None:
            return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
        return sqlstate.startswith("08") or sqlstate in OUTAGE_SQLSTATES
    return False


def _cause(error: BaseException) -> BaseException | None:
    if isinstance(error, DBAPIError) and isinstance(error.orig, BaseException):
        return error.orig
    return error.__cause__ or error.__context__
