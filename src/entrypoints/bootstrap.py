"""The composition root, the only code that names concrete adapters: the container that
wires them, and opening and closing the flywheel (settings to a ready container, and back)."""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers
from sqlalchemy import Engine

from src.adapters.heartbeat_file import HeartbeatFile
from src.adapters.postgres.insight_board import PostgresInsightBoard
from src.adapters.postgres.nudge_board import PostgresNudgeBoard
from src.adapters.postgres.scaling_signal import PostgresScalingSignal
from src.adapters.postgres.wakeup import PostgresWakeup
from src.adapters.skills.french_matcher import FrenchSkillMatcher
from src.adapters.skills.openai_extractor import OpenAISkillsExtractor
from src.adapters.sql.database import (
    check_reachable,
    check_schema,
    create_postgres_engine,
    create_schema,
    create_sqlite_engine,
    is_transaction_pooler,
    ping,
    redact,
    sqlalchemy_url,
    store_kind,
)
from src.adapters.sql.eventsourcing_env import eventsourcing_env, require_batch_recorder
from src.adapters.sql.read_models.store import SqlAlchemyReadModelStore
from src.adapters.sqlalchemy_applied_events import SqlAlchemyAppliedEvents
from src.adapters.sqlalchemy_event_history import SqlAlchemyEventHistory
from src.adapters.sqlalchemy_extraction_cache import SqlAlchemyExtractionCache
from src.adapters.sqlalchemy_inbox import SqlAlchemyEventInbox
from src.adapters.sqlalchemy_journey_history import SqlAlchemyJourneyHistory
from src.adapters.sqlalchemy_operations import SqlAlchemyOperationsReadModel
from src.adapters.sqlalchemy_retention import SqlAlchemyRetentionStore
from src.adapters.sqlalchemy_rule_book import SqlAlchemyRuleBookStore
from src.adapters.sqlalchemy_skill_profiles import SqlAlchemySkillProfiles
from src.adapters.sqlalchemy_user_eraser import SqlAlchemyUserEraser
from src.adapters.sqlalchemy_worker_settings import SqlAlchemyWorkerSettings
from src.adapters.sqlite.insight_board import SqliteInsightBoard
from src.adapters.sqlite.nudge_board import SqliteNudgeBoard
from src.adapters.sqlite.scaling_signal import SqliteScalingSignal
from src.adapters.system_clock import SystemClock
from src.adapters.toml_experiments import load_experiments
from src.application.admin import QueueAdmin
from src.application.dry_run import RuleDryRun
from src.application.erasure import UserErasure
from src.application.errors import (
    PersistenceModuleInvalidError,
    SchemaMissingError,
    StoreUnavailableError,
)
from src.application.experiments import VariantAssigner
from src.application.ingest import EventIngestion
from src.application.journeys import JourneyApplication
from src.application.monitoring import OperationsMonitor, ProcessingStats
from src.application.nudge_choice import NudgeRanker
from src.application.ports.analysers import EventAnalyser
from src.application.processing.policy import ProcessingPolicy
from src.application.processing.processor import EventQueueProcessor
from src.application.projector import ReadModelProjector
from src.application.queries import FlywheelQueries
from src.application.retention import EventRetention
from src.application.rule_book import rule_book
from src.application.skills_gap import LazySkillMatcher, SkillsGapAnalyser
from src.application.worker import BackgroundWorker
from src.domain.apps import default_catalogue
from src.entrypoints.analysers import load_analysers
from src.entrypoints.settings import Settings

logger = logging.getLogger(__name__)


def batch_journeys(**kwargs: Any) -> JourneyApplication:
    """The journeys application, refused unless its recorder saves a batch's unit of work."""
    journeys = JourneyApplication(**kwargs)
    try:
        require_batch_recorder(journeys)
    except PersistenceModuleInvalidError:
        journeys.close()
        raise
    return journeys


def with_built_ins(
    skills_gap_on: bool,
    skills_gap: Callable[[], EventAnalyser],
    plugins: Sequence[EventAnalyser],
) -> list[EventAnalyser]:
    """The built-in analysers that are on, then the plug-ins; one that is off is never
    built (the matcher loads its dictionaries when built)."""
    return [*([skills_gap()] if skills_gap_on else []), *plugins]


def worker_name() -> str:
    """This process's name on the batches it claims (``locked_by``, with the batch's number).

    The host and process id tell an operator which worker holds a stuck batch; the random
    part keeps a restarted process that got the same id from renewing or giving back
    what its predecessor left.
    """
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def open_skills_extractor(
    settings: Settings, engine: Engine
) -> Iterator[OpenAISkillsExtractor | None]:
    """The LLM skills extractor, its answers cached in the store, or None when the settings
    leave it off; closed (its calls in flight cancelled, its connections closed) when the
    container's resources shut down (``close_flywheel``)."""
    extractor = OpenAISkillsExtractor.from_settings(
        settings.llm,
        budget_seconds=settings.event_processing_timeout,
        concurrency=settings.llm_concurrency,
        cache=SqlAlchemyExtractionCache(engine),
        timeout_seconds=settings.llm_timeout_seconds,
    )
    try:
        yield extractor
    finally:
        if extractor is not None:
            extractor.close()


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    database_url = providers.Callable(lambda s: s.database_url, settings)

    catalogue = providers.Singleton(default_catalogue)
    clock = providers.Singleton(SystemClock)
    plugin_analysers = providers.Singleton(
        load_analysers, providers.Callable(lambda s: s.analyser_specs, settings)
    )
    processing_stats = providers.Singleton(ProcessingStats, clock)

    kind = providers.Callable(store_kind, database_url)
    engine = providers.Selector(
        kind,
        sqlite=providers.Singleton(create_sqlite_engine, database_url),
        postgresql=providers.Singleton(create_postgres_engine, database_url),
    )
    inbox = providers.Singleton(SqlAlchemyEventInbox, engine)
    read_models = providers.Singleton(SqlAlchemyReadModelStore, engine)
    rule_book = providers.Singleton(SqlAlchemyRuleBookStore, engine)
    # The nudges' rules in each store's own home: SQL functions, or the Python module.
    board = providers.Selector(
        kind,
        sqlite=providers.Singleton(SqliteNudgeBoard, engine, clock),
        postgresql=providers.Singleton(PostgresNudgeBoard, engine),
    )
    # The insights' reading rule in each store's own home, as for the nudges.
    insight_board = providers.Selector(
        kind,
        sqlite=providers.Singleton(SqliteInsightBoard, engine),
        postgresql=providers.Singleton(PostgresInsightBoard, engine),
    )
    experiments = providers.Singleton(
        load_experiments,
        providers.Callable(lambda s: s.nudge_experiments_file, settings),
        catalogue,
    )
    assigner = providers.Singleton(VariantAssigner, experiments, read_models, clock, board)
    applied_events = providers.Singleton(SqlAlchemyAppliedEvents, engine)
    # Ranks each detected nudge for the daily cap, from the store's conversions per type.
    ranker = providers.Singleton(
        lambda s, read_models, clock: NudgeRanker(
            read_models,
            clock,
            min_share=s.nudge_choice_min_share,
            refresh=timedelta(seconds=s.nudge_choice_refresh_seconds),
        ),
        settings,
        read_models,
        clock,
    )
    journeys = providers.Singleton(
        batch_journeys,
        catalogue=catalogue,
        env=providers.Callable(eventsourcing_env, database_url),
        history=providers.Callable(
            functools.partial, SqlAlchemyJourneyHistory.for_application, engine
        ),
        variants=assigner,
        applied_events=applied_events,
        ranks=ranker,
    )
    projector = providers.Singleton(ReadModelProjector, journeys, read_models)
    # Skills read from free text by a language model (LLM_BASE_URL): None when off.
    skills_extractor = providers.Resource(open_skills_extractor, settings, engine)
    # The built-in skills-gap analyser, before the plug-ins; it reads free text through
    # the language model when one is set (LLM_BASE_URL, LLM_MODEL), else skills lists only.
    skill_profiles = providers.Singleton(SqlAlchemySkillProfiles, engine)
    skills_gap = providers.Singleton(
        SkillsGapAnalyser,
        matcher=providers.Singleton(
            LazySkillMatcher, providers.Singleton(FrenchSkillMatcher).provider
        ),
        profiles=skill_profiles,
        extractor=skills_extractor,
    )
    analysers = providers.Singleton(
        with_built_ins,
        providers.Callable(lambda s: s.skills_gap_analyser, settings),
        skills_gap.provider,
        plugin_analysers,
    )
    policy = providers.Singleton(
        lambda s: ProcessingPolicy(
            batch_size=s.event_batch_size,
            concurrency=s.event_concurrency,
            timeout_seconds=s.event_processing_timeout,
            max_attempts=s.event_max_attempts,
            retry_backoff_seconds=s.event_retry_backoff_seconds,
            lease_seconds=s.event_lease_seconds,
        ),
        settings,
    )
    processor = providers.Singleton(
        EventQueueProcessor,
        inbox=inbox,
        journeys=journeys,
        projector=projector,
        catalogue=catalogue,
        clock=clock,
        policy=policy,
        analysers=analysers,
        observer=processing_stats,
        worker_id=providers.Callable(worker_name),
    )
    # PostgreSQL checks new events against the catalogue itself: the API leaves it that.
    ingestion = providers.Singleton(
        EventIngestion,
        inbox,
        catalogue,
        store_checks_catalogue=providers.Callable(lambda k: k == "postgresql", kind),
    )
    queries = providers.Singleton(
        FlywheelQueries,
        inbox=inbox,
        read_models=read_models,
        catalogue=catalogue,
        clock=clock,
        board=board,
        experiments=experiments,
        insight_board=insight_board,
    )
    admin = providers.Singleton(QueueAdmin, inbox)
    # Old finished events out of the inbox: the worker's periodic pass and `prune`.
    retention = providers.Singleton(
        EventRetention,
        store=providers.Singleton(SqlAlchemyRetentionStore, engine),
        clock=clock,
        retention_days=providers.Callable(lambda s: s.event_retention_days, settings),
    )
    dry_run = providers.Singleton(
        RuleDryRun,
        catalogue,
        providers.Singleton(SqlAlchemyEventHistory, engine),
        clock,
        history_days=providers.Callable(lambda s: s.event_retention_days, settings),
    )
    operations = providers.Singleton(SqlAlchemyOperationsReadModel, engine)
    # The scaling signal in each store's own home: a SQL function, or the Python module.
    scaling_signal = providers.Selector(
        kind,
        sqlite=providers.Singleton(SqliteScalingSignal, engine),
        postgresql=providers.Singleton(PostgresScalingSignal, engine),
    )
    worker_settings = providers.Singleton(SqlAlchemyWorkerSettings, engine)
    monitor = providers.Singleton(
        OperationsMonitor,
        queue_status=inbox,
        read_models=read_models,
        operations=operations,
        stats=processing_stats,
        clock=clock,
        scaling=scaling_signal,
    )
    # The journeys' table names come from the application's recorders, as eventsourcing
    # chose them (``PERSISTENCE_MODULE``, ``POSTGRES_SCHEMA``): never written out here.
    eraser = providers.Singleton(SqlAlchemyUserEraser.for_application, engine, journeys)
    erasure = providers.Singleton(UserErasure, eraser=eraser, journeys=journeys, clock=clock)


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)


MAX_OPEN_PAUSE_SECONDS = 30.0
PROBE_INTERVAL_SECONDS = 1.0


def prepare_store(container: Container, *, migrate: bool = False) -> None:
    """Make sure the store is reachable and its schema exists, or raise saying why.

    The embedded SQLite store creates its schema on first use, as a newcomer expects;
    a shared PostgreSQL is only changed by an explicit ``migrate``.
    """
    settings: Settings = container.settings()
    engine = container.engine()
    check_reachable(engine, settings.database_url)
    if migrate or settings.store_kind == "sqlite":
        create_schema(engine)
    else:
        check_schema(engine)
    # What the store decides on its own follows the code and the settings that start.
    container.rule_book().publish(
        rule_book(container.catalogue(), container.experiments(), settings.nudge_settings)
    )
    if migrate:
        publish_worker_settings(container)
    _open_journeys(container)


def publish_worker_settings(container: Container) -> None:
    """Write the settings the store's scaling signal needs (``EVENT_BATCH_SIZE``).

    By ``migrate`` and by whatever starts a worker (``worker``, ``serve`` with its worker,
    ``process``), never by the API alone, whose settings need not be the workers'.
    """
    settings: Settings = container.settings()
    container.worker_settings().publish(settings.event_batch_size)


def _open_journeys(container: Container, attempts: int = 5) -> None:
    """Build the journeys application, which creates eventsourcing's tables if missing.

    Workers started together race on that ``CREATE TABLE IF NOT EXISTS`` ("tuple
    concurrently updated"); the loser simply tries again once the winner is done.
    """
    for attempt in range(1, attempts + 1):
        try:
            container.journeys()
        except PersistenceModuleInvalidError:
            raise  # a setting: trying again changes nothing
        except Exception:
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)
        else:
            return


def open_flywheel(settings: Settings, *, migrate: bool = False) -> Container:
    """A container whose store is reachable and whose schema exists."""
    container = build_container(settings)
    try:
        prepare_store(container, migrate=migrate)
    except BaseException:
        container.engine().dispose()
        raise
    return container


def open_flywheel_retrying(
    settings: Settings, stopping: threading.Event, max_pause: float = MAX_OPEN_PAUSE_SECONDS
) -> Container | None:
    """``open_flywheel``, retried with a doubling pause (from ``POLL_INTERVAL_SECONDS`` up
    to ``max_pause``) while the store is unreachable or not migrated; None once stopping.

    Each failure is logged with its reason and the pause, so an operator sees why a
    worker waits rather than a worker that died at start. While the store is
    unreachable, a cheap ping every ``PROBE_INTERVAL_SECONDS`` ends the pause as soon as
    it answers: a database back after a long outage is used at once. A wrong
    ``PERSISTENCE_MODULE`` is raised at once (``PersistenceModuleInvalidError``): no wait
    makes it right.
    """
    container = build_container(settings)
    pause = settings.poll_interval_seconds
    while not stopping.is_set():
        unreachable = False
        try:
            prepare_store(container)
        except StoreUnavailableError as error:
            reason, unreachable = str(error), True
        except SchemaMissingError as error:
            reason = str(error)
        except PersistenceModuleInvalidError:
            container.engine().dispose()
            raise
        except Exception as error:  # noqa: BLE001 - e.g. the journeys' tables unreachable
            reason = f"cannot open {redact(settings.database_url)}: {type(error).__name__}"
            unreachable = True
        else:
            return container
        logger.warning(
            "store not ready at start, retrying in %ss",
            f"{pause:g}",
            extra={"error": reason, "pause_seconds": pause},
        )
        wait_for_store(stopping, pause, container.engine() if unreachable else None)
        pause = min(pause * 2, max_pause)
    container.engine().dispose()
    return None


def wait_for_store(stopping: threading.Event, pause: float, unreachable: Engine | None) -> None:
    """Wait ``pause`` seconds, or less: stopping, or the ``unreachable`` store answers a
    ping (tried every ``PROBE_INTERVAL_SECONDS``), so it is opened at once.

    Pass None for a store that answers but is not ready (not migrated): pinging it would
    only retry it every second.
    """
    deadline = time.monotonic() + pause
    while not stopping.wait(min(PROBE_INTERVAL_SECONDS, max(deadline - time.monotonic(), 0))):
        if time.monotonic() >= deadline:
            return
        if unreachable is not None and ping(unreachable) is None:
            logger.info("store answers; opening it now")
            return


def build_worker(
    container: Container, *, drain_at_start: bool = True, heartbeat_file: Path | None = None
) -> BackgroundWorker:
    """The background worker of a process that runs one (``worker``, ``serve``).

    It pings the store cheaply to tell an outage from a failing event, counts the backlog
    it logs, prunes the inbox now and then, and touches ``heartbeat_file`` on each turn
    when given, for ``worker-alive``.
    """
    settings: Settings = container.settings()
    engine, queries = container.engine(), container.queries()
    return BackgroundWorker(
        container.processor(),
        settings.poll_interval_seconds,
        drain_at_start=drain_at_start,
        probe=lambda: ping(engine) is None,
        pending=lambda: queries.get_queue_status().pending,
        heartbeat=HeartbeatFile(heartbeat_file).beat if heartbeat_file is not None else None,
        maintenance=container.retention().maintain,
    )


def open_wakeup(settings: Settings, wake: Callable[[], None]) -> PostgresWakeup | None:
    """A LISTEN connection that calls ``wake`` as soon as events arrive, not started; None
    on SQLite and behind a transaction pooler, which keeps no LISTEN (the worker polls)."""
    if settings.store_kind != "postgresql" or is_transaction_pooler(
        sqlalchemy_url(settings.database_url)
    ):
        return None
    return PostgresWakeup(settings.database_url, wake)


def close_flywheel(container: Container) -> None:
    # The resources first (the skills extractor): a call in flight may still write its
    # answer to the store.
    container.shutdown_resources()
    container.journeys().close()
    container.engine().dispose()
