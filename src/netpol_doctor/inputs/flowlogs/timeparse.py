"""Timestamps as the logs write them -> seconds since the epoch (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["rfc3339"]


def rfc3339(text: str) -> float | None:
    """`2024-05-01T10:00:00.123456789Z` or with an offset; None if it is not one.

    protojson writes Timestamps with up to nine fractional digits, which
    `datetime.fromisoformat` refuses beyond six: the fraction is read apart. Records
    of one second share their whole-second part, which is parsed once.
    """
    if not isinstance(text, str) or len(text) < 20:
        return None
    head, dot, rest = text.partition(".")
    fraction = 0.0
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        if digits == 0:
            return None
        fraction = int(rest[:digits]) / 10**digits
        rest = rest[digits:]
    else:
        head, rest = text[:19], text[19:]
    whole = _seconds(head, rest)
    return None if whole is None else whole + fraction


@lru_cache(maxsize=4096)
def _seconds(head: str, zone: str) -> float | None:
    if zone in ("Z", "z"):
        zone = "+00:00"
    try:
        when = datetime.fromisoformat(head + zone)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
