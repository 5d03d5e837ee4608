"""Test helpers for the bridge: a TCP proxy that can cut the network, the outbox's rows,
an unwritable folder or file (also for root), a store whose next insert collides on its
primary key, the direct-SQL transport's configuration and the rows it stored."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from phoenix_bridge import BridgeConfig


class TcpProxy:
    """Forwards a loopback port to a target; ``cut()`` drops every connection and refuses
    new ones (as a network cut does), ``restore()`` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.port = 0
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not,
            # and the kernel would keep accepting on the old socket.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.cut()


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def outbox_hashes(path: Path) -> list[str]:
    """The outbox's waiting events, oldest first, read as another process would."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT event_hash FROM phoenix_outbox ORDER BY seq").fetchall()
    return [str(row[0]) for row in rows]


def outbox_attempts(path: Path) -> int:
    """How many delivery attempts the outbox's rows have failed so far (the most of any)."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        (most,) = connection.execute("SELECT max(attempts) FROM phoenix_outbox").fetchone()
    return int(most or 0)


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Makes a file or folder unwritable, also for root (the tests run as root here, and
    root ignores file modes): ``chattr +i``, else ``chmod`` for an ordinary user."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make {path} immutable here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def hold_the_next_id(connection: psycopg.Connection[Any]) -> None:
    """A row already holds the id the sequence gives next (as when a client chose an id
    ahead of it): the next insert collides on the primary key, not on the event hash."""
    connection.execute(
        "INSERT INTO phoenix_events (id, event_type, app_source, user_id) "
        "VALUES (100, 'cv.uploaded', 'phoenix-cv', 'someone')"
    )
    connection.execute("SELECT setval(pg_get_serial_sequence('phoenix_events', 'id'), 99)")


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "2m") -> Iterator[Path]:
    """A real file system of ``size`` (a tmpfs) mounted on ``folder`` while in use.

    Only root may mount one: another user's run skips the test, saying so; a mount that
    fails for root skips it too, but fails it under CI (``CI=true``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip(f"mounting a {size} tmpfs needs root; these tests run as uid {os.geteuid()}")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a {size} tmpfs on {folder}: {done.stderr.decode().strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill_up(folder: Path) -> Path:
    """A file that takes every byte left on ``folder``'s file system."""
    ballast = folder / "ballast"
    with ballast.open("wb", buffering=0) as file:
        chunk = b"\0" * 4096
        with contextlib.suppress(OSError):  # ENOSPC: the disk is full
            while True:
                file.write(chunk)
    return ballast


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def sql_config(url: str, outbox: Path, **overrides: Any) -> BridgeConfig:
    values: dict[str, Any] = {
        "transport": "sql",
        "database_url": url,
        "outbox_path": outbox,
        "flush_interval_seconds": 0.2,
        "max_backoff_seconds": 0.5,
    }
    values.update(overrides)
    return BridgeConfig(**values)


def stored(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT event_type, user_id, payload, event_hash, idempotency_key "
            "FROM phoenix_events ORDER BY id"
        ).fetchall()


def wait_for(condition: Any, timeout: float = 60, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
