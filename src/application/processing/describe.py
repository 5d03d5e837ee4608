"""An error in one line: for logs, metrics, HTTP problems and ``ai_processing_error``."""

from __future__ import annotations


def describe(error: BaseException) -> str:
    """One line for logs and ``ai_processing_error``: drivers append SQL and parameters."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"[:500]
