"""The command line's grammar: every command and its flags, parsed by argparse, and the
checks of values that need no store (a positive number, a JSON payload)."""

from __future__ import annotations

import argparse
import difflib
import json
import math
from pathlib import Path
from typing import Any

from src.application.dry_run import DEFAULT_DAYS
from src.domain.errors import EventRejectedError
from src.domain.events import MAX_PAYLOAD_DEPTH
from src.entrypoints import json_input
from src.entrypoints.cli.worker import HEARTBEAT_MAX_AGE_SECONDS


def build_parser() -> _Parser:
    parser = _Parser(
        prog="phoenix-flywheel",
        description="Cross-app event pipeline and nudge engine for the Phoenix apps.",
        epilog="Settings come from the environment or a .env file (DATABASE_URL, EVENT_*).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="the Smart Router: the HTTP API on port 8000 plus a background worker"
    )
    serve.add_argument(
        "--host",
        default="0.0.0.0",  # noqa: S104 - a service in a container listens on all interfaces
        help="interface to listen on (default: all; set FLYWHEEL_API_TOKEN then)",
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="the API alone: workers run as processes of their own (`worker`, `process`)",
    )
    commands.add_parser("worker", help="run the background worker until interrupted")
    alive = commands.add_parser(
        "worker-alive",
        help="exit 0 when the worker's heartbeat (WORKER_HEARTBEAT_FILE) is fresh: a health check",
    )
    alive.add_argument(
        "--max-age",
        type=float,
        default=HEARTBEAT_MAX_AGE_SECONDS,
        help=f"seconds (default {HEARTBEAT_MAX_AGE_SECONDS:g})",
    )
    process = commands.add_parser(
        "process",
        help="drain the queue once, print a summary; bounded with --max-seconds/--max-events",
    )
    process.add_argument(
        "--max-seconds",
        type=positive_seconds,
        default=None,
        metavar="S",
        help="stop starting batches after S seconds (the batch in hand finishes); exit 0",
    )
    process.add_argument(
        "--max-events",
        type=positive_count,
        default=None,
        metavar="N",
        help="claim at most N events, then stop; exit 0",
    )
    commands.add_parser("status", help="print the queue status as JSON")
    commands.add_parser("migrate", help="create or upgrade the schema (idempotent)")
    commands.add_parser(
        "prune",
        help="remove processed and duplicate events older than EVENT_RETENTION_DAYS "
        "from the inbox now (the worker does it every 10 minutes); prints what it removed",
    )
    emit = commands.add_parser("emit", help="publish one event")
    emit.add_argument("event_type", metavar="EVENT_TYPE")
    emit.add_argument("--app", required=True, help="app_source, e.g. phoenix-letters")
    emit.add_argument("--user", required=True, help="user id")
    emit.add_argument("--payload", default="{}", help="a JSON object (default: {})")
    emit.add_argument("--key", default=None, help="idempotency key (tells real twins apart)")
    demo_command = commands.add_parser(
        "demo", help="fill the store with a sample, process it, show results"
    )
    demo_command.add_argument(
        "--yes", action="store_true", help="add the sample to a store that already holds events"
    )
    experiments = commands.add_parser(
        "experiments", help="how each nudge message converts (A/B or bandit results)"
    )
    experiments.add_argument("--json", action="store_true", help="JSON, for scripts")
    forget = commands.add_parser(
        "forget", help="erase everything about a user (idempotent); prints what was removed"
    )
    forget.add_argument("user_id", metavar="USER_ID")
    rules = commands.add_parser("rules", help="nudge rules: try one on the stored history")
    rule_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    dry_run = rule_commands.add_parser(
        "dry-run", help="what a rule would have done over the last days, writing nothing"
    )
    dry_run.add_argument("nudge_type", metavar="NUDGE_TYPE")
    dry_run.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help=f"history replayed (default {DEFAULT_DAYS})"
    )
    dry_run.add_argument(
        "--rule-file", type=Path, default=None, help="a TOML file declaring a rule not deployed"
    )
    dry_run.add_argument("--json", action="store_true", help="JSON, for scripts")
    return parser


def unknown_option(args: argparse.Namespace, given: str) -> str:
    """What an unknown argument is, named, with the closest option of its command."""
    command: _Parser = args.command_parser
    name = given.split("=", 1)[0]
    if not name.startswith("-"):
        return f"unexpected argument {given!r} for {command.prog}"
    close = difflib.get_close_matches(name, command.long_options, n=1)
    options = ", ".join(command.long_options) or "none"
    hint = f" (did you mean {close[0]}?)" if close else f"; its options: {options}"
    return f"unknown option {name} for {command.prog}{hint}"


class _Parser(argparse.ArgumentParser):
    """Remembers its long options, to name the closest one to a misspelt option."""

    long_options: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.long_options = []
        super().__init__(*args, **kwargs)
        self.set_defaults(command_parser=self)

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        long = [n for n in names if isinstance(n, str) and n.startswith("--") and n != "--help"]
        self.long_options += long
        return super().add_argument(*names, **kwargs)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got {text!r})")
    return value


def positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (got {text!r})")
    return value


def parse_payload(text: str) -> object:
    """``emit --payload``: a JSON object, or the field named with what is wrong."""
    try:
        payload = json_input.loads(text)
    except json.JSONDecodeError as error:
        raise EventRejectedError("payload", f"is not valid JSON ({error.msg})") from None
    except RecursionError:
        raise EventRejectedError(
            "payload", f"is nested more than {MAX_PAYLOAD_DEPTH} levels deep"
        ) from None
    problem = json_input.first_problem(payload, "payload")
    if problem is not None:
        raise EventRejectedError(*problem)
    if payload is None:
        # The default is an empty object; an explicit null is a mistake worth naming.
        raise EventRejectedError("payload", "must be a JSON object, not null (omit --payload)")
    return payload
