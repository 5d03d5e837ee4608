"""What each command does, and ``main``, which runs the one asked: settings checked, the store
opened, the command run, and its errors told as exit codes (``output``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict

from pydantic import ValidationError

from src.adapters.sql.database import redact
from src.adapters.toml_experiments import ExperimentFileError, load_experiments
from src.adapters.toml_rules import load_rule
from src.application.dry_run import RuleNotFoundError
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
from src.domain.events import NewEvent, new_event
from src.domain.rules import RuleInvalidError
from src.entrypoints.analysers import AnalyserLoadError, resolve_analysers
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.cli import demo
from src.entrypoints.cli.output import (
    EXIT_BUSY,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_STORE,
    DryRunProgress,
    format_dry_run,
    format_experiments,
    format_nudge_choice,
    format_summary,
)
from src.entrypoints.cli.parser import build_parser, parse_payload, unknown_option
from src.entrypoints.cli.process import drain_with_progress, run_process
from src.entrypoints.cli.serve import serve
from src.entrypoints.cli.worker import run_worker, worker_alive
from src.entrypoints.dry_run_output import dry_run_json
from src.entrypoints.logging_setup import configure_logging
from src.entrypoints.settings import Settings


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
                payload=parse_payload(args.payload),
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
