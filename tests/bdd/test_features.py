"""Every scenario of features/, on SQLite and on PostgreSQL (the ``store_url`` fixture)."""

from pytest_bdd import scenarios

scenarios(
    "dedup.feature",
    "batch.feature",
    "fallback.feature",
    "nudges.feature",
    "poison.feature",
    "experiments.feature",
)
