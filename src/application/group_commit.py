"""Group commit: the events of requests that arrive together are written in one transaction.

Each request still waits for the commit that holds its own events (an accepted event is
durable), but concurrent requests share it, and with it a thread hop, a connection
checkout and a round trip to the store: under load each commit carries the requests
that arrived while the one before it was written. Alone, a request is written at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from src.application.errors import RequestInvalidError
from src.application.ports.inbox import AppendResult
from src.domain.events import NewEvent

Waiting = tuple[Sequence[NewEvent], "asyncio.Future[AppendResult]"]
"""A request's events and the future its handler awaits."""

AppendGroups = Callable[[Sequence[Sequence[NewEvent]]], list[AppendResult]]
"""Blocking: appends the groups in one transaction, one result per group."""

MAX_EVENTS_PER_COMMIT = 5000
"""A bound on one transaction; a request is never split (at most 1,000 events)."""


class GroupCommit:
    """``await append(events)`` from the event loop; the store is written from a thread."""

    def __init__(self, append_groups: AppendGroups) -> None:
        self._append_groups = append_groups
        self._waiting: deque[Waiting] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def append(self, events: Sequence[NewEvent]) -> AppendResult:
        """What became of ``events``, once the transaction holding them is committed."""
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((events, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        try:
            while self._waiting:
                await self._commit(self._take())
        finally:
            self._writer = None

    def _take(self) -> list[Waiting]:
        taken = [self._waiting.popleft()]
        count = len(taken[0][0])
        while self._waiting and count + len(self._waiting[0][0]) <= MAX_EVENTS_PER_COMMIT:
            count += len(self._waiting[0][0])
            taken.append(self._waiting.popleft())
        return taken

    async def _commit(self, taken: list[Waiting]) -> None:
        groups = [events for events, _future in taken]
        try:
            results = await asyncio.to_thread(self._append_groups, groups)
        except RequestInvalidError as refused:
            if len(taken) == 1:
                _settle(taken[0][1], error=refused)
                return
            # The store refused a row for good: one request's, which must not fail the
            # others. Each is written alone, so only the guilty one is refused.
            for one in taken:
                await self._commit([one])
            return
        except Exception as error:  # noqa: BLE001 - every waiting request learns the store's error
            for _events, future in taken:
                _settle(future, error=error)
            return
        for (_events, future), result in zip(taken, results, strict=True):
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[AppendResult],
    *,
    result: AppendResult | None = None,
    error: BaseException | None = None,
) -> None:
    """A request that went away (its client disconnected) has nobody to tell."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    elif result is not None:
        future.set_result(result)
