"""The composition root: the only code that names concrete adapters."""

from __future__ import annotations

import functools
import os
import secrets
import socket
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from dependency_injector import containers, providers
from sqlalchemy import Engine

from src.adapters.postgres.insight_board import PostgresInsightBoard
from src.adapters.postgres.nudge_board import PostgresNudgeBoard
from src.adapters.postgres.scaling_signal import PostgresScalingSignal
from src.adapters.skills.french_matcher import FrenchSkillMatcher
from src.adapters.skills.openai_extractor import OpenAISkillsExtractor
from src.adapters.sql.database import create_postgres_engine, create_sqlite_engine, store_kind
from src.adapters.sql.eventsourcing_env import eventsourcing_env, require_batch_recorder
from src.adapters.sqlalchemy_applied_events import SqlAlchemyAppliedEvents
from src.adapters.sqlalchemy_event_history import SqlAlchemyEventHistory
from src.adapters.sqlalchemy_extraction_cache import SqlAlchemyExtractionCache
from src.adapters.sqlalchemy_inbox import SqlAlchemyEventInbox
from src.adapters.sqlalchemy_journey_history import SqlAlchemyJourneyHistory
from src.adapters.sqlalchemy_operations import SqlAlchemyOperationsReadModel
from src.adapters.sqlalchemy_read_models import SqlAlchemyReadModelStore
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
from src.application.dry_run import RuleDryRun
from src.application.erasure import UserErasure
from src.application.errors import PersistenceModuleInvalidError
from src.application.experiments import VariantAssigner
from src.application.journeys import JourneyApplication
from src.application.monitoring import OperationsMonitor, ProcessingStats
from src.application.nudge_choice import NudgeRanker
from src.application.ports import EventAnalyser
from src.application.processor import EventQueueProcessor, ProcessingPolicy
from src.application.projector import ReadModelProjector
from src.application.retention import EventRetention
from src.application.services import EventIngestion, FlywheelQueries, QueueAdmin
from src.application.skills_gap import LazySkillMatcher, SkillsGapAnalyser
from src.domain.apps import default_catalogue
from src.entrypoints.analysers import load_analysers
from src.entrypoints.settings import Settings


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
