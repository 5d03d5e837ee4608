"""A local OpenAI-compatible server for the extractor's tests: a real HTTP server on
127.0.0.1, speaking ``POST /v1/chat/completions``, that answers from a script.

Each test queues the replies it wants (a recorded completion, a slow one, a 500, a body
that is not JSON ...); the server keeps every request it received (body and headers) so
the test can check what the client really sent. Never a real model.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parent / "data" / "chat_completions.json"


def recorded(name: str) -> dict[str, Any]:
    """A chat completion body from ``data/chat_completions.json``, by name: answers in the
    shape Ollama's OpenAI-compatible endpoint sends (written after it, not captured from a
    model), including one cut short by ``max_tokens``."""
    answers: dict[str, dict[str, Any]] = json.loads(RECORDED.read_text(encoding="utf-8"))
    return answers[name]


def completion_with(
    content: str, *, prompt_tokens: int = 50, completion_tokens: int = 9
) -> dict[str, Any]:
    """A chat completion whose message is ``content``, in the shape Ollama sends."""
    body = recorded("offer_airbus")
    body["choices"][0]["message"]["content"] = content
    body["usage"] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return body


@dataclass(frozen=True)
class Reply:
    """What the server answers: ``body`` (JSON object, or raw bytes) after ``delay`` seconds."""

    body: Mapping[str, Any] | bytes
    status: int = 200
    delay: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: Mapping[str, str]  # names in lower case
    body: dict[str, Any]


@dataclass
class OpenAIStub:
    replies: deque[Reply] = field(default_factory=deque)
    default: Reply | None = None
    requests: list[ReceivedRequest] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = stub._next(ReceivedRequest(self.path, headers, body))
                if self.path != "/v1/chat/completions":
                    reply = Reply({"error": {"message": "not found"}}, status=404)
                stub._released.wait(reply.delay)
                payload = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to answer
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        serve = lambda: self._server.serve_forever(poll_interval=0.05)  # noqa: E731
        threading.Thread(target=serve, daemon=True).start()

    def stop(self) -> None:
        self._released.set()  # slow replies end now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _next(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            if self.replies:
                return self.replies.popleft()
        if self.default is None:
            return Reply({"error": {"message": "the test queued no reply"}}, status=599)
        return self.default
