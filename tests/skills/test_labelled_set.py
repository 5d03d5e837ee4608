"""The labelled set the benchmark scores is well formed (its scores are the benchmark's)."""

from __future__ import annotations

import json
from pathlib import Path

PAIRS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "skills_gap_pairs.json"


def test_at_least_thirty_french_pairs_with_unique_ids() -> None:
    pairs = json.loads(PAIRS.read_text("utf-8"))
    assert len(pairs) >= 30
    assert len({p["offer"]["offer_id"] for p in pairs}) == len(pairs)
    assert len({p["cv"]["cv_id"] for p in pairs}) == len(pairs)


def test_each_pair_has_an_offer_a_cv_and_missing_skills_in_the_offers_words() -> None:
    for pair in json.loads(PAIRS.read_text("utf-8")):
        offer, cv, expected = pair["offer"], pair["cv"], pair["expected_missing"]
        assert {"offer_id", "title", "company", "skills"} <= set(offer)
        assert {"cv_id", "skills"} <= set(cv)
        assert offer["skills"]
        assert all(isinstance(s, str) for s in offer["skills"])
        assert all(isinstance(s, str) for s in cv["skills"])
        # Expected missing skills are the offer's own items, in the offer's order.
        assert expected == [s for s in offer["skills"] if s in expected], offer["offer_id"]
