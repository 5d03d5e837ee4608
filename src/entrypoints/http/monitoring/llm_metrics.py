"""The skills extractor's figures on ``/metrics``, when a language model is configured.

Read at scrape time from the extractor's own counters (``totals()``), like the worker's:
calls by outcome, tokens, the calls' latency and the cache's hits and misses, all since
this process started. With no model configured nothing is shown: a series that can only
be zero would suggest a model that never answers.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from src.application.skills import OUTCOMES, ExtractionTotals


def skills_extraction_metrics(totals: ExtractionTotals) -> Iterator[Metric]:
    calls = CounterMetricFamily(
        "flywheel_llm_calls",
        "Calls to the language model by outcome (ok, timeout, error, invalid answer); "
        "an answer found in the cache is no call.",
        labels=["outcome"],
    )
    for outcome in OUTCOMES:
        calls.add_metric([outcome], totals.calls.get(outcome, 0))
    yield calls
    tokens = CounterMetricFamily(
        "flywheel_llm_tokens",
        "Tokens the language model reported using, by kind (prompt, completion).",
        labels=["kind"],
    )
    tokens.add_metric(["prompt"], totals.prompt_tokens)
    tokens.add_metric(["completion"], totals.completion_tokens)
    yield tokens
    buckets = [
        (f"{bound:g}", count)
        for bound, count in zip(totals.latency_bounds, totals.latency_buckets, strict=True)
    ]
    buckets.append(("+Inf", sum(totals.calls.values())))
    yield HistogramMetricFamily(
        "flywheel_llm_call_duration_seconds",
        "Time of one call to the language model, waiting for a free slot included, "
        "whatever its outcome.",
        buckets=buckets,
        sum_value=totals.latency_sum_seconds,
    )
    yield CounterMetricFamily(
        "flywheel_llm_cache_hits",
        "Extractions answered from the store's cache, without calling the model.",
        value=totals.cache_hits,
    )
    yield CounterMetricFamily(
        "flywheel_llm_cache_misses",
        "Extractions not in the cache (each one then calls the model).",
        value=totals.cache_misses,
    )
