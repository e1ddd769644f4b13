"""Timestamps as the logs write them -> seconds since the epoch (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["rfc3339"]


def rfc3339(text: str) -> float | None:
    """`2024-05-01T10:00:00.123456789Z` or with an offset; None if it is not one.

    protojson writes Timestamps with up to nine fractional digits, which
    `datetime.fromisoformat` refuses beyond six: the extra digits are cut.
    """
    if not isinstance(text, str) or len(text) < 20:
        return None
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[: min(digits, 6)] + rest[digits:] if digits else head + rest
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
