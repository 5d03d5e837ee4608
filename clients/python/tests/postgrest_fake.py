"""A Supabase project's REST API in front of the real PostgreSQL: gateway, then PostgREST.

No PostgREST binary can be installed here, so this double does what the two layers do for
the requests the apps send, and leaves every decision about rights to PostgreSQL itself:

* the gateway refuses a request whose ``apikey`` (header or query parameter) is not the
  project's anon or service key, as Supabase's does (401, ``Invalid API key``);
* the ``Authorization: Bearer`` JWT (HS256, the project's secret) picks the role; without
  it, the ``apikey``'s own claims do. A bad signature or an expired token is a 401 with
  PostgREST's codes (``PGRST301``, ``PGRST303``);
* each request runs in one transaction with ``SET LOCAL ROLE <role>`` and
  ``request.jwt.claims``, so grants, column grants and row-level security are the real
  database's; ``Prefer: return=minimal`` inserts without ``RETURNING`` (no SELECT right
  needed), ``return=representation`` with it;
* only ``public`` is served: another table or schema is PostgREST's 404 ``PGRST205`` or
  406 ``PGRST106``;
* ``POST /rest/v1/rpc/<function>`` calls a function of ``public`` with the body's JSON
  object as named arguments, in the same transaction as the role: a set of rows answers
  as a JSON array, a single value as itself; an unknown function or argument is
  PostgREST's 404 ``PGRST202``. The grants on the function, and whatever it checks of
  the caller, are the database's;
* errors are PostgREST's JSON (``code``, ``message``, ``details``, ``hint``) with its
  status for the SQLSTATE (42501: 401 for anon, 403 otherwise; 23505: 409; ...).

The anon and service keys are JWTs with ``role`` claims, as Supabase issues them, and a
signed-in user's access token is one with ``role: authenticated`` and ``sub``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg import sql

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
EXPOSED_SCHEMA = "public"
OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_jwt(claims: dict[str, Any], secret: str = JWT_SECRET) -> str:
    """An HS256 JWT, as Supabase signs its keys and its users' access tokens."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256)
    return f"{header}.{body}.{_b64(signature.digest())}"


class JwtError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def verify_jwt(token: str, secret: str = JWT_SECRET) -> dict[str, Any]:
    try:
        header, body, signature = token.split(".")
        expected = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256)
        if json.loads(_unb64(header)).get("alg") != "HS256":
            raise JwtError("PGRST301", "Wrong or unsupported encoding algorithm")
        if not hmac.compare_digest(_unb64(signature), expected.digest()):
            raise JwtError("PGRST301", "No suitable key or wrong key type")
        claims: dict[str, Any] = json.loads(_unb64(body))
    except (ValueError, TypeError) as error:
        raise JwtError("PGRST301", "Expected 3 parts in JWT; got another shape") from error
    if "exp" in claims and float(claims["exp"]) < time.time():
        raise JwtError("PGRST303", "JWT expired")
    return claims


_ISSUED = int(time.time())
ANON_KEY = sign_jwt({"iss": "supabase", "ref": "phoenixtest", "role": "anon", "iat": _ISSUED})
SERVICE_KEY = sign_jwt(
    {"iss": "supabase", "ref": "phoenixtest", "role": "service_role", "iat": _ISSUED}
)


def user_token(user_id: str, *, expires_in: float = 3600, secret: str = JWT_SECRET) -> str:
    """A signed-in user's access token, as Supabase Auth issues it."""
    now = int(time.time())
    return sign_jwt(
        {
            "aud": "authenticated",
            "sub": user_id,
            "role": "authenticated",
            "email": f"{user_id}@example.org",
            "iat": now,
            "exp": now + expires_in,
        },
        secret,
    )


# --- The database side: what every Supabase project has before any file runs ----------

SUPABASE_ROLES = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
EXCEPTION WHEN unique_violation OR duplicate_object THEN NULL;  -- a parallel run made them
END $$;
"""
# Per database: auth.uid() reading the request's claims, and Supabase's default grants on
# public (everything to the API roles, including what is created later).
SUPABASE_DATABASE = """
CREATE SCHEMA IF NOT EXISTS auth;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
    )::uuid
$$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
"""


def make_it_supabase(url: str) -> None:
    """What a Supabase project has before the file runs: roles, grants and ``auth.uid()``.

    Roles belong to the whole cluster: made only when missing and never dropped, so tests
    running in parallel do not fight over them.
    """
    with psycopg.connect(url, autocommit=True) as connection:
        with contextlib.suppress(psycopg.errors.UniqueViolation):  # a parallel run made them
            connection.execute(SUPABASE_ROLES)
        connection.execute(SUPABASE_DATABASE)


# --- The HTTP side -----------------------------------------------------------------------


def _argument(value: object) -> str:
    """A JSON argument as the text PostgreSQL casts to the parameter's type."""
    return value if isinstance(value, str) else json.dumps(value)


def _default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class RequestError(Exception):
    """An answer of PostgREST's own (not from PostgreSQL)."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "message": message, "details": None, "hint": hint}


def _status_of(state: str, role: str) -> int:
    """PostgREST's HTTP status for a SQLSTATE (its documented table, the parts used here)."""
    if state == "42501":
        return 401 if role == "anon" else 403
    exact = {"23503": 409, "23505": 409, "25006": 405, "42883": 404, "42P01": 404, "P0001": 400}
    if state in exact:
        return exact[state]
    prefixes = {"08": 503, "53": 503, "0L": 403, "0P": 403, "28": 403}
    if state[:2] in prefixes:
        return prefixes[state[:2]]
    if state[:2] in {"09", "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "XX"}:
        return 500
    return 400


class SupabaseGateway:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                gateway.handle(self, "GET")

            def do_POST(self) -> None:
                gateway.handle(self, "POST")

            def do_PATCH(self) -> None:
                gateway.handle(self, "PATCH")

            def do_DELETE(self) -> None:
                gateway.handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the gateway: which key, which role ------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append((method, request.path, headers))
        query = parse_qsl(parts.query, keep_blank_values=True)
        apikey = headers.get("apikey") or dict(query).get("apikey", "")
        if not apikey:
            return self._answer(
                request,
                401,
                {
                    "message": "No API key found in request",
                    "hint": "No `apikey` request header or url param was found.",
                },
            )
        if apikey not in (ANON_KEY, SERVICE_KEY):
            return self._answer(
                request,
                401,
                {
                    "message": "Invalid API key",
                    "hint": "Double check your Supabase `anon` or `service_role` API key.",
                },
            )
        body = b""
        if method in ("POST", "PATCH"):
            body = request.rfile.read(int(headers.get("content-length", "0")))
        try:
            claims = self._claims(headers, apikey)
            role = str(claims.get("role") or "anon")
            answer = self._postgrest(method, parts.path, query, headers, body, role, claims)
        except RequestError as error:
            return self._answer(request, error.status, error.body)
        except psycopg.Error as error:
            state = error.sqlstate or "XX000"
            diag = error.diag
            return self._answer(
                request,
                _status_of(state, role),
                {
                    "code": state,
                    "message": diag.message_primary or str(error).strip(),
                    "details": diag.message_detail,
                    "hint": diag.message_hint,
                },
            )
        return self._answer(request, *answer)

    @staticmethod
    def _claims(headers: dict[str, str], apikey: str) -> dict[str, Any]:
        authorization = headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if authorization and scheme.lower() != "bearer":
            raise RequestError(401, "PGRST301", "Authorization must be a Bearer token")
        try:
            return verify_jwt(token.strip() if authorization else apikey)
        except JwtError as error:
            raise RequestError(401, error.code, error.message) from error

    # -- PostgREST: one transaction per request, as the JWT's role --------------------------

    @contextmanager
    def _transaction(
        self, role: str, claims: dict[str, Any], method: str, path: str
    ) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.database_url) as connection:
            if method == "GET":
                connection.execute("SET TRANSACTION READ ONLY")
            connection.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            connection.execute(
                "SELECT set_config('request.jwt.claims', %s, true),"
                " set_config('request.method', %s, true), set_config('request.path', %s, true)",
                (json.dumps(claims), method, path),
            )
            yield connection

    def _postgrest(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        role: str,
        claims: dict[str, Any],
    ) -> tuple[int, object]:
        profile = headers.get("content-profile" if method != "GET" else "accept-profile")
        if profile and profile != EXPOSED_SCHEMA:
            raise RequestError(
                406, "PGRST106", f"The schema must be one of the following: {EXPOSED_SCHEMA}"
            )
        name = path.removeprefix("/rest/v1/")
        if name.startswith("rpc/") and method == "POST":
            return self._rpc(name.removeprefix("rpc/"), body, role, claims, path)
        if not NAME.match(name) or not self._exposed(name):
            raise RequestError(
                404,
                "PGRST205",
                f"Could not find the table '{EXPOSED_SCHEMA}.{name}' in the schema cache",
            )
        table = sql.Identifier(EXPOSED_SCHEMA, name)
        prefer = {
            key.strip(): value.strip()
            for item in headers.get("prefer", "").split(",")
            if item.strip()
            for key, _, value in [item.partition("=")]
        }
        representation = prefer.get("return") == "representation"
        params = dict(query)
        columns = self._columns(params.get("select"))
        where, values = self._filters(
            [(k, v) for k, v in query if k not in ("select", "columns", "apikey")]
        )
        with self._transaction(role, claims, method, path) as connection:
            if method == "GET":
                statement = sql.SQL("SELECT {} FROM {}{}").format(columns, table, where)
                return 200, self._rows(connection.execute(statement, values))
            returning = sql.SQL(" RETURNING {}").format(columns) if representation else sql.SQL("")
            if method == "POST":
                rows = self._documents(connection, body.decode() or "null")
                named = params.get("columns")
                result = self._insert(
                    connection,
                    table,
                    rows,
                    [c.strip().strip('"') for c in named.split(",")] if named else None,
                    prefer.get("missing") == "default",
                    returning,
                )
                return 201, result if representation else None
            if method == "PATCH":
                changes = json.loads(body or b"{}")
                assignments = sql.SQL(", ").join(
                    sql.SQL("{} = (json_populate_record(NULL::{}, %s::json)).{}").format(
                        sql.Identifier(self._name(column)), table, sql.Identifier(column)
                    )
                    for column in changes
                )
                statement = sql.SQL("UPDATE {} SET {}{}{}").format(
                    table, assignments, where, returning
                )
                cursor = connection.execute(
                    statement, [json.dumps(changes)] * len(changes) + values
                )
            else:
                statement = sql.SQL("DELETE FROM {}{}{}").format(table, where, returning)
                cursor = connection.execute(statement, values)
            return (200, self._rows(cursor)) if representation else (204, None)

    def _rpc(
        self, name: str, body: bytes, role: str, claims: dict[str, Any], path: str
    ) -> tuple[int, object]:
        """A function of the exposed schema, called with named arguments as the role."""
        arguments = json.loads(body or b"{}")
        if not isinstance(arguments, dict):
            raise RequestError(400, "PGRST102", "Expected a JSON object of arguments")
        function = self._function(name)
        if function is None or not set(arguments) <= set(function[1]):
            raise RequestError(
                404,
                "PGRST202",
                f"Could not find the function {EXPOSED_SCHEMA}.{name}"
                f"({', '.join(sorted(arguments))}) in the schema cache",
            )
        tabular, types = function
        call = sql.SQL("{}({})").format(
            sql.Identifier(EXPOSED_SCHEMA, name),
            sql.SQL(", ").join(
                sql.SQL("{} => %s::{}").format(sql.Identifier(key), sql.SQL(types[key]))
                for key in arguments
            ),
        )
        statement = sql.SQL("SELECT * FROM {}" if tabular else "SELECT {}").format(call)
        values = [None if v is None else _argument(v) for v in arguments.values()]
        with self._transaction(role, claims, "POST", path) as connection:
            cursor = connection.execute(statement, values)
            if tabular:
                return 200, self._rows(cursor)
            row = cursor.fetchone()
            return 200, row[0] if row else None

    def _function(self, name: str) -> tuple[bool, dict[str, str]] | None:
        """Whether it returns rows, and its input arguments' types by name."""
        if not NAME.match(name):
            return None
        with psycopg.connect(self.database_url) as connection:
            found = connection.execute(
                "SELECT p.proretset OR t.typtype = 'c', p.proargnames, p.proargmodes,"
                " ARRAY(SELECT format_type(a, NULL) FROM unnest(p.proargtypes) AS a)"
                " FROM pg_proc AS p JOIN pg_type AS t ON t.oid = p.prorettype"
                " WHERE p.pronamespace = %s::regnamespace AND p.proname = %s",
                (EXPOSED_SCHEMA, name),
            ).fetchone()
        if found is None:
            return None
        tabular, names, modes, types = found
        inputs = [
            n
            for n, m in zip(names or [], modes or ["i"] * len(names or []), strict=True)
            if m in ("i", "b", "v")
        ]
        return bool(tabular), dict(zip(inputs, types, strict=True))

    def _exposed(self, name: str) -> bool:
        """PostgREST's schema cache: the relations of the exposed schema."""
        with psycopg.connect(self.database_url) as connection:
            row = connection.execute(
                "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL",
                (EXPOSED_SCHEMA, name),
            ).fetchone()
        return bool(row and row[0])

    @staticmethod
    def _name(column: str) -> str:
        if not NAME.match(column):
            raise RequestError(400, "PGRST100", f'"failed to parse column {column!r}"')
        return column

    def _columns(self, select: str | None) -> sql.Composable:
        if not select or select == "*":
            return sql.SQL("*")
        return sql.SQL(", ").join(sql.Identifier(self._name(c.strip())) for c in select.split(","))

    def _filters(self, filters: list[tuple[str, str]]) -> tuple[sql.Composable, list[Any]]:
        conditions: list[sql.Composable] = []
        values: list[Any] = []
        for column, expression in filters:
            operator, _, value = expression.partition(".")
            field = sql.Identifier(self._name(column))
            if operator == "is" and value in ("null", "true", "false"):
                conditions.append(sql.SQL("{} IS {}").format(field, sql.SQL(value.upper())))
            elif operator in OPERATORS:
                conditions.append(
                    sql.SQL("{}::text {} %s").format(field, sql.SQL(OPERATORS[operator]))
                )
                values.append(value)
            else:
                raise RequestError(400, "PGRST100", f'"failed to parse filter ({expression})"')
        if not conditions:
            return sql.SQL(""), values
        return sql.SQL(" WHERE {}").format(sql.SQL(" AND ").join(conditions)), values

    @staticmethod
    def _documents(connection: psycopg.Connection[Any], body: str) -> list[tuple[str, list[str]]]:
        """The body's objects as JSON text with their keys, split by PostgreSQL as
        PostgREST has it do (a payload nested a thousand deep never meets Python's
        decoder)."""
        rows = connection.execute(
            "SELECT e::text, ARRAY(SELECT json_object_keys(e)) FROM json_array_elements("
            "CASE json_typeof(%(b)s::json) WHEN 'array' THEN %(b)s::json"
            " ELSE json_build_array(%(b)s::json) END) AS e WHERE json_typeof(e) = 'object'",
            {"b": body},
        ).fetchall()
        total = connection.execute(
            "SELECT CASE json_typeof(%(b)s::json) WHEN 'array'"
            " THEN json_array_length(%(b)s::json) ELSE 1 END",
            {"b": body},
        ).fetchone()
        if total is None or len(rows) != total[0]:
            raise RequestError(400, "PGRST102", "All object keys must match")
        return [(str(text), list(keys)) for text, keys in rows]

    def _insert(
        self,
        connection: psycopg.Connection[Any],
        table: sql.Identifier,
        rows: list[tuple[str, list[str]]],
        named: list[str] | None,
        missing_default: bool,
        returning: sql.Composable,
    ) -> list[dict[str, Any]]:
        """Every named column is inserted (its privilege checked), a missing value being
        the column's default or null, as PostgREST's ``Prefer: missing`` says."""
        columns = named or (rows[0][1] if rows else [])
        if not named and any(keys != columns for _, keys in rows):
            raise RequestError(400, "PGRST102", "All object keys must match")
        returned: list[dict[str, Any]] = []
        for text, keys in rows:
            values = [
                sql.SQL("(json_populate_record(NULL::{}, %(row)s::json)).{}").format(
                    table, sql.Identifier(self._name(column))
                )
                if column in keys
                else sql.SQL("DEFAULT" if missing_default else "NULL")
                for column in columns
            ]
            statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}){}").format(
                table,
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(values),
                returning,
            )
            cursor = connection.execute(statement, {"row": text})
            if cursor.description:
                returned += self._rows(cursor)
        return returned

    @staticmethod
    def _rows(cursor: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
        names = [column.name for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, body: object) -> None:
        data = b"" if body is None else json.dumps(body, default=_default).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


# The names the bridge's tests used before the gateway checked keys.
PostgrestFake = SupabaseGateway
user_key = user_token
