"""The socket ``serve`` listens on gives its connections Nagle's algorithm off.

uvicorn writes an answer's head and body in two writes; with Nagle on, the body waits for
the client's delayed acknowledgement of the head, about 40 ms per request on a kept-alive
connection (the bridge's HTTP transport keeps its connections). asyncio turns Nagle off
only on sockets that say they are TCP, and accepted sockets inherit the listener's.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from src.entrypoints.cli.serve import bind_socket


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_connections_accepted_on_the_serve_socket_have_nagle_off(host: str) -> None:
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        listening = bind_socket(host, 0)
    except OSError as error:
        pytest.skip(f"cannot bind {host}: {error}")
    port = listening.getsockname()[1]
    seen: list[int] = []

    async def scenario() -> None:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connection: socket.socket = writer.get_extra_info("socket")
            seen.append(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listening)
        async with server:
            _reader, writer = await asyncio.open_connection(host, port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(scenario())
    assert len(seen) == 1
    assert seen[0] != 0
