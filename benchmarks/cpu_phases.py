"""How ``cpu_profile`` reads py-spy's samples of a worker: phases of a batch and packages.

A sample is a stack, root first. Its phase is the first rule of ``PHASES`` that any of its
frames matches (so a save inside the fold counts as the save); its package is that of its
innermost frame (self time).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

PHASES: list[tuple[str, str, str]] = [
    # (phase, function, file): the outermost frame that matches names the phase.
    ("projection", "_project", "src/application/processing/processor.py"),
    ("claim", "claim", "sqlalchemy_inbox.py"),
    ("triage: twins of rows without a hash", "twins", "sqlalchemy_inbox.py"),
    ("triage: hashes of rows without one", "event_hash", "phoenix_bridge"),
    ("triage", "_triage", "src/application/processing/processor.py"),
    ("analysers (rules per event)", "_analyse", "src/application/processing/processor.py"),
    ("fold: journey loads", "load_journeys", "src/application/journeys.py"),
    ("fold: applied-events check", "", "sqlalchemy_applied_events.py"),
    ("save: eventsourcing mapper and transcoder", "to_stored_event", "eventsourcing/"),
    ("save: snapshots", "_snapshot", "src/application/journeys.py"),
    ("save: insert (events, marking, read models)", "insert_events", ""),
    ("save: other", "_save_journeys", "src/application/journeys.py"),
    ("fold: domain (record, rules)", "_record_source", "src/application/journeys.py"),
    ("fold: domain (record, rules)", "detect_nudges", "src/domain/"),
    ("fold: other", "fold", "src/application/journeys.py"),
    ("lease heartbeat", "_beat", "src/application/processing/heartbeat.py"),
    ("wake-up listener", "", "postgres/wakeup.py"),
    ("drain loop, logging", "process_batch", "src/application/processing/processor.py"),
    ("worker loop, polls", "", "src/application/worker.py"),
]


def phase_of(frames: list[str]) -> str:
    """The phase of a stack (root first): the first rule any frame matches, outermost frame
    first, so that a save's insert inside the fold counts as the save."""
    for phase, function, file in PHASES:
        for frame in frames:
            name, _, where = frame.partition(" (")
            if (not function or name.endswith(function)) and file in where:
                return phase
    return "other (interpreter start, threads, imports)"


def package_of(frame: str) -> str:
    """The package a frame's code belongs to (py-spy shortens paths to the import root)."""
    where = frame.partition(" (")[2].rstrip(")")
    top = where.split("/")[0]
    if top == "src":
        return "/".join(where.split("/")[:2])
    return top.removesuffix(".py") if "/" not in where else top


def read_samples(path: Path) -> list[tuple[list[str], int]]:
    samples = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            samples.append((stack.split(";"), int(count)))
    return samples


def breakdown(files: list[Path], worker_us: float) -> list[str]:
    phases: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    leaves: dict[str, Counter[str]] = {}
    for file in files:
        for frames, count in read_samples(file):
            phase = phase_of(frames)
            phases[phase] += count
            packages[package_of(frames[-1])] += count
            leaves.setdefault(phase, Counter())[frames[-1]] += count
    total = sum(phases.values()) or 1
    lines = [f"workers, by phase (outermost frame; {total:,} samples holding the GIL):"]
    lines += [
        f"  {100 * n / total:5.1f} %  {worker_us * n / total:6.1f} us/event  {phase}"
        for phase, n in phases.most_common()
    ]
    lines.append("workers, by package (innermost frame, self time):")
    lines += [
        f"  {100 * n / total:5.1f} %  {worker_us * n / total:6.1f} us/event  {package}"
        for package, n in packages.most_common(14)
    ]
    lines.append("the largest phases' own functions (innermost frame):")
    for phase, _ in phases.most_common(6):
        lines.append(f"  {phase}:")
        lines += [
            f"    {worker_us * n / total:6.1f} us/event  {leaf}"
            for leaf, n in leaves[phase].most_common(6)
        ]
    return lines
