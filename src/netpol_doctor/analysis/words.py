"""Small wording helpers shared by the analyses' messages: real plurals instead of
`(s)`, and lists joined as a person writes them."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["plural", "series"]

_IRREGULAR = {"policy": "policies", "is": "are", "was": "were", "has": "have", "entry": "entries"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 pod`, `2 pods`, `0 policies`."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {many or _IRREGULAR.get(word) or word + 's'}"


def series(items: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
