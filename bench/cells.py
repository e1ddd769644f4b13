"""The cells of bench/scale.py's tables: the median of a command's whole-process runs
(bench/peer.py `measure`), or why there is none."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass

from peer import Run

__all__ = ["ND_CODES", "Cell", "median_of", "progress", "secs"]

ND_CODES = (0, 1, 3)  # netpol-doctor's allowed, denied, unknown: all are answers


@dataclass(frozen=True, slots=True)
class Cell:
    """The median of the runs of one command, or why there is none."""

    status: str  # "ok" | "timeout" | "error"
    seconds: float = 0.0
    rss_mb: float = 0.0
    message: str = ""
    #: CPU seconds (user + sys), median; a timeout's: up to the kill; None if unknown
    cpu_seconds: float | None = None

    def text(self) -> str:
        if self.status == "ok":
            return f"{secs(self.seconds):>8} {self.rss_mb:>7.0f} MB"
        if self.status == "timeout":
            return f"{'timeout >' + secs(self.seconds):>19}"
        return f"error: {self.message}"[:60]

    def time_text(self) -> str:
        """Wall time and CPU time, without the peak RSS."""
        cpu = "" if self.cpu_seconds is None else f" ({secs(self.cpu_seconds)} CPU)"
        if self.status == "ok":
            return f"{secs(self.seconds)}{cpu}"
        if self.status == "timeout":
            return f"timeout >{secs(self.seconds)}{cpu}"
        return f"error: {self.message}"[:40]


def secs(s: float) -> str:
    return f"{s * 1000:.0f}ms" if s < 1 else f"{s:.1f}s"


def median_of(runs: int, run: Callable[[], Run]) -> Cell:
    """The median of `runs` runs; the first run that fails is the cell instead."""
    done: list[Run] = []
    for _ in range(runs):
        r = run()
        if not r.ok:
            return Cell(r.status, r.seconds, r.max_rss_kb / 1024, r.message, r.cpu_seconds)
        done.append(r)
    cpus = [r.cpu_seconds for r in done if r.cpu_seconds is not None]
    return Cell(
        "ok",
        statistics.median(r.seconds for r in done),
        statistics.median(r.max_rss_kb for r in done) / 1024,
        cpu_seconds=statistics.median(cpus) if len(cpus) == len(done) else None,
    )


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
