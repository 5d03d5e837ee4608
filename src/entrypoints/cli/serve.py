"""``phoenix-flywheel serve``: the HTTP API and its worker, on an address taken first."""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys

from src.entrypoints.cli.output import EXIT_LISTEN, EXIT_OK
from src.entrypoints.settings import Settings

logger = logging.getLogger(__name__)


def serve(settings: Settings, host: str, port: int, *, run_worker: bool = True) -> int:
    """The API, and with ``run_worker`` its background worker in the same process.

    Without it (``serve --no-worker``) the API neither drains at start nor polls: any
    number of ``worker`` processes do, beside any number of API processes.
    """
    import uvicorn

    from src.entrypoints.http import create_app

    # The address is taken before anything else: a port in use is said at once, before
    # the store is opened (and the SQLite file created).
    try:
        listening = bind_socket(host, port)
    except OSError as error:
        reason = error.strerror or str(error)
        print(
            f"error: cannot listen on {host}:{port}: {reason} "
            "(another server on this port? choose one with --port)",
            file=sys.stderr,
        )
        return EXIT_LISTEN
    announce_address(listening, guarded=settings.flywheel_api_token is not None)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, run_worker=run_worker),
            host=host,  # for its log line; it listens on the socket given below
            port=port,
            log_config=None,  # keep our structured logging
            access_log=False,  # the app logs each request itself, with its duration
            timeout_graceful_shutdown=30,
        )
    )
    with listening:
        server.run(sockets=[listening])
    return EXIT_OK if server.started else EXIT_LISTEN


def announce_address(listening: socket.socket, *, guarded: bool) -> None:
    """Say where the API listens; warn when anyone beyond this machine may call it freely.

    The default ``--host 0.0.0.0`` suits a container, whose port the host publishes; on
    a machine of its own it is every interface, and without a token journeys and nudges
    (personal data) are served to whoever reaches it.
    """
    address, port = listening.getsockname()[:2]
    shown = f"[{address}]" if ":" in address else address
    logger.info(
        "listening on http://%s:%s",
        shown,
        port,
        extra={"host": address, "port": port, "token": "required" if guarded else "none"},
    )
    if not guarded and not ipaddress.ip_address(address).is_loopback:
        logger.warning(
            "listening on %s:%s, beyond loopback, without FLYWHEEL_API_TOKEN: anyone who "
            "reaches this address can read and erase users' journeys and nudges; set "
            "FLYWHEEL_API_TOKEN, or listen on 127.0.0.1 (--host)",
            shown,
            port,
            extra={"host": address, "port": port},
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, as uvicorn binds one (address reuse on).

    Its protocol is named (TCP), not left to the default: the connections it accepts
    inherit it, and asyncio turns Nagle's algorithm off (``TCP_NODELAY``) only on sockets
    that say they are TCP. With it on, an answer written in two parts (head, then body)
    waited for the client's delayed acknowledgement: about 40 ms per request on a
    kept-alive connection (docs/cpu-per-event.md, "HTTP ingest").
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
    except OSError:
        listening.close()
        raise
    listening.set_inheritable(True)
    return listening
