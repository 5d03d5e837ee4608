"""The worker's collector settings (``gc_tuning``): rarer young collections, start frozen."""

from __future__ import annotations

import gc

from src.entrypoints.gc_tuning import MIDDLE, OLD, YOUNG, tune_for_worker


def test_tuning_raises_the_thresholds_and_freezes_what_exists() -> None:
    before = gc.get_threshold()
    try:
        tune_for_worker()
        assert gc.get_threshold() == (YOUNG, MIDDLE, OLD)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
