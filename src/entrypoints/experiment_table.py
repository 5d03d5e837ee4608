"""The experiments' results as a table for people (``experiments``, and the demo)."""

from __future__ import annotations

from collections.abc import Sequence

from src.application.experiments import ExperimentReport
from src.application.nudge_choice import SlotReport


def format_experiments(reports: Sequence[ExperimentReport]) -> str:
    """A table per experiment, for people: rate with its interval, chance of being best."""
    lines: list[str] = []
    for report in reports:
        lines.append(
            f"{report.nudge_type} ({report.mode}, conversions within "
            f"{report.attribution_days} days of exposure)"
        )
        lines.append(
            f"  {'variant':<12} {'assigned':>8} {'exposed':>8} {'converted':>9} "
            f"{'rate':>6}  {'95% CI':<13} {'P(best)':>7} {'p-value':>7}  message"
        )
        for v in report.variants:
            rate = f"{v.conversion_rate:.0%}" if v.conversion_rate is not None else "-"
            interval = f"{v.ci_low:.0%}-{v.ci_high:.0%}"
            p_value = f"{v.p_value:.3f}" if v.p_value is not None else "-"
            lines.append(
                f"  {v.variant:<12} {v.assigned:>8} {v.exposed:>8} {v.converted:>9} "
                f"{rate:>6}  {interval:<13} {v.probability_best:>7.0%} {p_value:>7}  "
                f"{v.message}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def format_nudge_choice(slots: Sequence[SlotReport]) -> str:
    """Which nudge types win the users' slots under the daily cap, and how they convert."""
    lines = [
        "nudge choice under the daily cap (slots won = exposures, all variants together)",
        f"  {'nudge type':<18} {'detected':>8} {'won':>6} {'share':>6} {'converted':>9} "
        f"{'rate':>6}  {'95% CI':<13} {'P(best)':>7}",
    ]
    for slot in slots:
        share = f"{slot.share:.0%}" if slot.share is not None else "-"
        rate = f"{slot.conversion_rate:.0%}" if slot.conversion_rate is not None else "-"
        interval = f"{slot.ci_low:.0%}-{slot.ci_high:.0%}"
        lines.append(
            f"  {slot.nudge_type:<18} {slot.detected:>8} {slot.won:>6} {share:>6} "
            f"{slot.converted:>9} {rate:>6}  {interval:<13} {slot.probability_best:>7.0%}"
        )
    return "\n".join(lines)
