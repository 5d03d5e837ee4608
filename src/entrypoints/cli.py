"""``phoenix-flywheel``: the command line (every command and flag: docs/command-line.md).

Exit codes: 0 done, 1 the store is unreachable or not migrated, 2 bad input, 3 ``serve``
cannot listen on its address (the port is taken), or the user to forget has events in a
worker's hands (try again).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from src.adapters.sql.database import redact
from src.adapters.toml_experiments import ExperimentFileError, load_experiments
from src.adapters.toml_rules import load_rule
from src.application.dry_run import DEFAULT_DAYS, RuleNotFoundError
from src.application.errors import (
    PersistenceModuleInvalidError,
    RequestInvalidError,
    SchemaMissingError,
    StoreUnavailableError,
    UserBusyError,
)
from src.domain.apps import default_catalogue
from src.domain.errors import EventRejectedError
from src.domain.event_hash import short_hash
from src.domain.events import MAX_PAYLOAD_DEPTH, NewEvent, new_event
from src.domain.rules import RuleInvalidError
from src.entrypoints import demo, json_input
from src.entrypoints.analysers import AnalyserLoadError, resolve_analysers
from src.entrypoints.container import Container
from src.entrypoints.dry_run_output import DryRunProgress, dry_run_json, format_dry_run
from src.entrypoints.exit_codes import EXIT_BUSY, EXIT_INPUT, EXIT_OK, EXIT_STORE
from src.entrypoints.experiment_table import format_experiments, format_nudge_choice
from src.entrypoints.logging_setup import configure_logging
from src.entrypoints.process_command import (
    drain_with_progress,
    format_summary,
    positive_count,
    positive_seconds,
    run_process,
)
from src.entrypoints.runtime import close_flywheel, open_flywheel
from src.entrypoints.serve_command import serve
from src.entrypoints.settings import Settings
from src.entrypoints.worker_command import HEARTBEAT_MAX_AGE_SECONDS, run_worker, worker_alive


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"error: {unknown_option(args, unknown[0])}", file=sys.stderr)
        return EXIT_INPUT
    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"]).upper() or "settings"
            message = str(problem["msg"]).removeprefix("Value error, ")
            if not message.startswith(field):
                message = f"setting {field}: {message}"
            print(f"error: {message}", file=sys.stderr)
        return EXIT_INPUT
    configure_logging(settings.log_format, settings.log_level)
    try:
        # Checked before anything starts, the server included: a service must not run
        # without an analyser it was told to use, nor with a wrong experiments file.
        resolve_analysers(settings.analyser_specs)
        load_experiments(settings.nudge_experiments_file, default_catalogue())
    except (AnalyserLoadError, ExperimentFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT
    if args.command == "serve":
        # The server opens the store itself, in the background: it must answer /health
        # (503) even while the store is down, and recover when it comes back.
        return serve(settings, args.host, args.port, run_worker=not args.no_worker)
    if args.command == "worker":
        # Like the server, the worker waits for a store that is down or not migrated yet:
        # workers started while the database restarts must not die without a supervisor.
        return run_worker(settings)
    if args.command == "worker-alive":
        return worker_alive(settings, args.max_age)  # never touches the store
    handler = _COMMANDS[args.command]
    try:
        if args.command == "emit":
            # Validated before the store is opened: bad input never reaches it.
            args.event = new_event(
                default_catalogue(),
                event_type=args.event_type,
                app_source=args.app,
                user_id=args.user,
                payload=_parse_payload(args.payload),
                idempotency_key=args.key,
            )
        if args.command == "forget" and not args.user_id.strip():
            raise RequestInvalidError("user_id", "a non-empty user id is required")
        if args.command == "rules" and args.rule_file is not None:
            args.rule = load_rule(args.rule_file, args.nudge_type, default_catalogue())
        container = open_flywheel(settings, migrate=args.command == "migrate")
    except (StoreUnavailableError, SchemaMissingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_STORE
    except (
        EventRejectedError,
        RequestInvalidError,
        RuleInvalidError,
        PersistenceModuleInvalidError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT
    try:
        return handler(container, args)
    except (EventRejectedError, RequestInvalidError, RuleNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except UserBusyError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BUSY
    except StoreUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_STORE
    finally:
        close_flywheel(container)


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


def _parse_payload(text: str) -> object:
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


def _migrate(_container: Container, _args: argparse.Namespace) -> int:
    print("schema ready: phoenix_events, phoenix_nudges, phoenix_nudges_sent, journeys")
    return EXIT_OK


def _prune(container: Container, _args: argparse.Namespace) -> int:
    report = container.retention().run_once()
    print(
        json.dumps(
            {
                "deleted": report.deleted,
                "retention_days": report.retention_days,
                "older_than": report.older_than.isoformat(),
                "batches": report.batches,
                "reclaimed": report.reclaimed,
                "duration_ms": round(report.duration_ms, 1),
            },
            indent=2,
        )
    )
    return EXIT_OK


def _status(container: Container, _args: argparse.Namespace) -> int:
    print(json.dumps(asdict(container.queries().get_queue_status()), indent=2))
    return EXIT_OK


def _emit(container: Container, args: argparse.Namespace) -> int:
    event: NewEvent = args.event
    result = container.ingestion().append([event])
    if result.accepted:
        print(
            f"accepted {event.event_type} for {event.user_id} "
            f"(hash: {short_hash(event.event_hash)})"
        )
    else:
        print(f"duplicate: event already recorded (hash: {short_hash(event.event_hash)})")
    return EXIT_OK


def _experiments(container: Container, args: argparse.Namespace) -> int:
    reports = container.queries().list_experiments()
    if args.json:
        print(json.dumps([asdict(report) for report in reports], indent=2, ensure_ascii=False))
    else:
        print(format_experiments(reports))
        print()
        print(format_nudge_choice(container.queries().list_nudge_choice()))
    return EXIT_OK


def _forget(container: Container, args: argparse.Namespace) -> int:
    report = container.erasure().forget(args.user_id)
    print(json.dumps({"user_id": args.user_id, "removed": asdict(report)}, indent=2))
    return EXIT_OK


def _demo(container: Container, args: argparse.Namespace) -> int:
    status = container.queries().get_queue_status()
    counts = (status.pending, status.processing, status.processed, status.duplicates)
    held = sum(counts) + status.failed + status.dead
    if held and not args.yes:
        # DATABASE_URL may name a production store: fake users there would skew its
        # figures and experiments, and be mistaken for real ones.
        settings: Settings = container.settings()
        print(
            f"error: the store at {redact(settings.database_url)} already holds {held} "
            f"events; demo would add {demo.EVENTS_WRITTEN} sample events of made-up users "
            "to them. Point DATABASE_URL at an empty store, or add --yes to add them anyway",
            file=sys.stderr,
        )
        return EXIT_INPUT
    return demo.run(container, drain_with_progress, format_summary)


def _rules(container: Container, args: argparse.Namespace) -> int:
    rule = getattr(args, "rule", None)
    progress = DryRunProgress(sys.stderr)
    report = container.dry_run().dry_run(
        args.nudge_type, args.days, rule=rule, progress=progress.update
    )
    progress.finish()
    if args.json:
        print(json.dumps(dry_run_json(report), indent=2))
    else:
        print(format_dry_run(report))
    return EXIT_OK


_COMMANDS: dict[str, Callable[[Container, argparse.Namespace], int]] = {
    "process": run_process,
    "status": _status,
    "migrate": _migrate,
    "prune": _prune,
    "emit": _emit,
    "demo": _demo,
    "experiments": _experiments,
    "forget": _forget,
    "rules": _rules,
}


if __name__ == "__main__":
    sys.exit(main())
