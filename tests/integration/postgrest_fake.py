"""A PostgREST subset on the real PostgreSQL: what supabase-py sends for the bridge.

Each request runs in its own transaction under the role its API key maps to (as
Supabase's gateway does), with ``request.jwt.claims`` set for a user key, so row-level
security and grants are exercised through the client rather than mocked away.
Supported: ``POST /rest/v1/<table>`` (one object or a list) and
``GET /rest/v1/<table-or-view>?select=*&<column>=eq.<value>...``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg import sql

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
ANON_KEY = "anon-key"
SERVICE_KEY = "service-key"


def user_key(user_id: str) -> str:
    """The key of a signed-in user (an ``authenticated`` JWT whose ``sub`` is the user)."""
    return f"user:{user_id}"


def _default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class PostgrestFake:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_POST(self) -> None:
                fake.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _role(self, key: str) -> tuple[str, str | None] | None:
        if key == ANON_KEY:
            return "anon", None
        if key == SERVICE_KEY:
            return "service_role", None
        if key.startswith("user:"):
            return "authenticated", key.removeprefix("user:")
        return None

    @contextmanager
    def _as(self, role: str, sub: str | None) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.database_url) as connection:
            connection.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            claims = json.dumps({"role": role, **({"sub": sub} if sub else {})})
            connection.execute("SELECT set_config('request.jwt.claims', %s, true)", (claims,))
            yield connection

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append((method, request.path, headers))
        table = parts.path.removeprefix("/rest/v1/")
        key = headers.get("apikey", "")
        role = self._role(key)
        if role is None:
            return self._answer(request, 401, {"message": "Invalid API key", "hint": None})
        if not NAME.match(table):
            return self._answer(request, 404, {"message": f"no route {parts.path}"})
        try:
            with self._as(*role) as connection:
                if method == "POST":
                    length = int(headers.get("content-length", "0"))
                    body = json.loads(request.rfile.read(length) or b"null")
                    self._insert(connection, table, body if isinstance(body, list) else [body])
                    return self._answer(request, 201, None)
                query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("select",)]
                return self._answer(request, 200, self._select(connection, table, query))
        except psycopg.Error as error:
            return self._error(request, error)

    @staticmethod
    def _insert(
        connection: psycopg.Connection[Any], table: str, rows: list[dict[str, Any]]
    ) -> None:
        for row in rows:
            columns = list(row)
            if not all(NAME.match(column) for column in columns):
                raise psycopg.errors.UndefinedColumn(f"bad column in {columns}")
            values = [json.dumps(v) if isinstance(v, dict | list) else v for v in row.values()]
            statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            )
            connection.execute(statement, values)

    @staticmethod
    def _select(
        connection: psycopg.Connection[Any], table: str, filters: list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        conditions = []
        values = []
        for column, expression in filters:
            operator, _, value = expression.partition(".")
            if operator != "eq" or not NAME.match(column):
                raise psycopg.errors.FeatureNotSupported(f"unsupported filter {column}")
            conditions.append(sql.SQL("{}::text = %s").format(sql.Identifier(column)))
            values.append(value)
        statement = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
        if conditions:
            statement = sql.SQL("{} WHERE {}").format(statement, sql.SQL(" AND ").join(conditions))
        cursor = connection.execute(statement, values)
        names = [column.name for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _error(self, request: BaseHTTPRequestHandler, error: psycopg.Error) -> None:
        state = error.sqlstate or "XX000"
        message = str(error).strip()
        status = {"23505": 409, "42501": 401, "42P01": 404}.get(state, 400)
        code = state
        if state == "42P01":  # PostgREST answers a missing table from its schema cache
            code = "PGRST205"
            message = "Could not find the table in the schema cache"
        self._answer(
            request, status, {"code": code, "message": message, "details": None, "hint": None}
        )

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, body: object) -> None:
        data = b"" if body is None else json.dumps(body, default=_default).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
