"""One ASGI wrapper that times each HTTP request and learns its status.

The access log and the Prometheus metrics both need the same two facts about every
answer; each hands this wrapper what to do with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

Answered = Callable[[Scope, int, float], None]
"""Called once per HTTP request with its scope, status and duration in seconds."""


def timed(app: ASGIApp, on_answer: Answered) -> ASGIApp:
    """``app`` wrapped so that ``on_answer`` learns each request's status and duration.

    A request that fails before answering counts as a 500, as the server then answers.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            on_answer(scope, status, time.perf_counter() - started)

    return middleware
