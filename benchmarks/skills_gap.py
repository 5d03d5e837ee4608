"""Scores the skills-gap matcher on the labelled French offer/CV pairs (not a test; prints
figures).

    .venv/bin/python -m benchmarks.skills_gap [--verbose] [--repeat N] [--data PATH]

The set (``benchmarks/data/skills_gap_pairs.json``) gives, per pair, an offer's skills, a
CV's skills and ``expected_missing``: the offer's skills (in its own words) a recruiter
would say the CV lacks. Scores are of ``missing``, pooled over all pairs:

- a skill the matcher calls missing is a true positive when the pair expects it missing,
  a false positive otherwise (the CV did show it: the user would be told to add a skill
  they have);
- an expected missing skill the matcher did not call missing is a false negative (a gap
  left unsaid);
- precision = TP / (TP + FP), recall = TP / (TP + FN); skills are compared as the offer
  spells them.

``--verbose`` prints each pair the matcher gets wrong. Also printed: the time to load the
vocabulary (once per process), the time per comparison over the set (``--repeat`` passes
after a warm-up), and a hostile comparison: the most an app may send on each side
(``MAX_SKILLS`` items of ``MAX_SKILL_CHARS`` characters), to show the cost stays bounded.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import time
from dataclasses import dataclass
from pathlib import Path

from src.adapters.skills.french_matcher import FrenchSkillMatcher
from src.application.skills import MAX_SKILL_CHARS, MAX_SKILLS

DATA = Path(__file__).resolve().parent / "data" / "skills_gap_pairs.json"


@dataclass(frozen=True)
class Pair:
    offer_id: str
    title: str
    company: str
    offer_skills: tuple[str, ...]
    cv_skills: tuple[str, ...]
    expected_missing: tuple[str, ...]


def load_pairs(path: Path = DATA) -> list[Pair]:
    return [
        Pair(
            offer_id=row["offer"]["offer_id"],
            title=row["offer"]["title"],
            company=row["offer"]["company"],
            offer_skills=tuple(row["offer"]["skills"]),
            cv_skills=tuple(row["cv"]["skills"]),
            expected_missing=tuple(row["expected_missing"]),
        )
        for row in json.loads(path.read_text(encoding="utf-8"))
    ]


def ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.3f}" if denominator else "n/a"


def hostile_skills(rng: random.Random) -> list[str]:
    alphabet = string.ascii_letters + "éèàç+# "
    return ["".join(rng.choices(alphabet, k=MAX_SKILL_CHARS)) for _ in range(MAX_SKILLS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print each wrong pair")
    parser.add_argument("--repeat", type=int, default=20, help="timed passes over the set")
    parser.add_argument("--data", type=Path, default=DATA, help="the labelled set (JSON)")
    args = parser.parse_args()

    started = time.perf_counter()
    matcher = FrenchSkillMatcher()
    load_seconds = time.perf_counter() - started
    pairs = load_pairs(args.data)

    true_pos = false_pos = false_neg = 0
    wrong = 0
    for pair in pairs:
        predicted = set(matcher.compare(pair.offer_skills, pair.cv_skills).missing)
        expected = set(pair.expected_missing)
        true_pos += len(predicted & expected)
        false_pos += len(predicted - expected)
        false_neg += len(expected - predicted)
        if predicted != expected:
            wrong += 1
            if args.verbose:
                print(f"{pair.offer_id} {pair.title} ({pair.company})")
                for skill in pair.offer_skills:
                    if skill in predicted - expected:
                        print(f"    called missing, but the CV shows it: {skill!r}")
                    elif skill in expected - predicted:
                        print(f"    missing, but not called missing:    {skill!r}")
                print(f"    CV: {list(pair.cv_skills)}")

    durations = []
    for _ in range(max(args.repeat, 1)):
        for pair in pairs:
            begin = time.perf_counter()
            matcher.compare(pair.offer_skills, pair.cv_skills)
            durations.append(time.perf_counter() - begin)
    rng = random.Random(21)
    offer, cv = hostile_skills(rng), hostile_skills(rng)
    begin = time.perf_counter()
    matcher.compare(offer, cv)
    hostile_ms = (time.perf_counter() - begin) * 1000

    expected_total = sum(len(pair.expected_missing) for pair in pairs)
    offer_total = sum(len(pair.offer_skills) for pair in pairs)
    print(
        f"pairs: {len(pairs)} ({offer_total} offer skills, {expected_total} expected missing); "
        f"pairs fully right: {len(pairs) - wrong}/{len(pairs)}"
    )
    print(f"missing: TP {true_pos}, FP {false_pos}, FN {false_neg}")
    print(
        f"precision: {ratio(true_pos, true_pos + false_pos)}   "
        f"recall: {ratio(true_pos, true_pos + false_neg)}"
    )
    durations.sort()
    p95 = durations[int(0.95 * (len(durations) - 1))]
    print(
        f"time per comparison: mean {statistics.fmean(durations) * 1000:.2f} ms, "
        f"p95 {p95 * 1000:.2f} ms ({len(durations)} comparisons); "
        f"vocabulary load {load_seconds * 1000:.0f} ms"
    )
    print(
        f"hostile comparison ({MAX_SKILLS} x {MAX_SKILLS} skills of {MAX_SKILL_CHARS} "
        f"characters): {hostile_ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
