"""Side by side with NCA (issue #12): netpol-doctor's one-port matrix on one cluster
written in every input format, beside `nca --connectivity` on its JSON files, and the
ratio beside the target (>= 100x faster, whatever the input format).

A ratio is only what the runs support: NCA timed out, its time is at least the time
it ran, so the ratio is a lower bound (">= N x"), and a bound below the target says
neither met nor missed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cells import ND_CODES, Cell, median_of, progress
from generate import cached_cluster
from peer import DATA, PORT, measure, nca_command

__all__ = [
    "INPUT_FORMATS",
    "TARGET",
    "Peer",
    "Ratio",
    "Row",
    "SideBySide",
    "bench_versus",
    "render_versus",
    "speedup",
    "verdict",
]

#: issue #12: netpol-doctor's one-port matrix >= 100x faster than NCA's
TARGET = 100.0
#: file format (bench/generate.py --format) -> what it is
INPUT_FORMATS: dict[str, str] = {
    "json": "kubectl -o json Lists",
    "yaml": "kubectl -o yaml Lists",
    "stream": "one object per YAML doc",
}
#: netpol-doctor's one-port matrix, each output: stdout goes to /dev/null
MATRIX_OUTPUTS = ("summary", "json")


@dataclass(frozen=True, slots=True)
class Peer:
    """How NCA runs: its executable and the seconds one run may take."""

    nca: Path
    timeout: float

    def cell(self, base: Path, runs: int) -> Cell:
        """`nca --connectivity` on the cluster in `base` (JSON), its answer in a file."""
        cmd = nca_command(self.nca, base / "cluster", base / "nca-connectivity.txt")
        return median_of(runs, partial(measure, cmd, self.timeout))


@dataclass(frozen=True, slots=True)
class Ratio:
    """NCA's time over netpol-doctor's; `bound`: NCA was stopped, it is at least that."""

    times: float
    bound: bool = False

    def text(self) -> str:
        # Rounded down: the figure printed is never more than the runs showed.
        shown = f"{math.floor(self.times * 10) / 10:.1f}x"
        return f">= {shown}" if self.bound else shown


def speedup(nd: Cell, nca: Cell) -> Ratio | None:
    """How many times faster netpol-doctor answered; None when the runs cannot say."""
    if nd.status != "ok" or nd.seconds <= 0 or nca.status not in ("ok", "timeout"):
        return None
    return Ratio(nca.seconds / nd.seconds, bound=nca.status == "timeout")


def verdict(ratio: Ratio | None, target: float = TARGET) -> str:
    """`>= 100x: met`, `MISSED`, or `unknown` when NCA was stopped below the target."""
    if ratio is None:
        return ""
    if ratio.times >= target:
        return f">= {target:.0f}x: met"
    # A bound below the target: NCA, left to finish, may have taken long enough.
    return f">= {target:.0f}x: {'unknown' if ratio.bound else 'MISSED'}"


@dataclass(frozen=True, slots=True)
class Row:
    """netpol-doctor's matrix on one input format, one output."""

    fmt: str
    output: str
    nd: Cell


@dataclass(frozen=True, slots=True)
class SideBySide:
    pods: int
    nca: Cell
    rows: tuple[Row, ...]


def _matrix(exe: str, cluster: Path, output: str) -> list[str]:
    return [exe, "matrix", "--port", str(PORT), "--output", output, "--snapshot", str(cluster)]


def bench_versus(
    exe: str, pods: int, seed: int, runs: int, timeout: float, peer: Peer
) -> SideBySide:
    """netpol-doctor's matrix from every input format, then NCA on the JSON files."""
    rows: list[Row] = []
    for fmt in INPUT_FORMATS:
        progress(f"[{pods} pods] {fmt} cluster ({pods // 4} policies, seed {seed}) ...")
        cluster = cached_cluster(pods, pods // 4, seed, DATA, "standard", fmt) / "cluster"
        for output in MATRIX_OUTPUTS:
            progress(f"[{pods} pods] {fmt}: matrix -o {output} ...")
            run = partial(measure, _matrix(exe, cluster, output), timeout, ok_codes=ND_CODES)
            rows.append(Row(fmt, output, median_of(runs, run)))
    progress(f"[{pods} pods] nca --connectivity (up to {peer.timeout:.0f}s a run) ...")
    nca = peer.cell(cached_cluster(pods, pods // 4, seed, DATA), runs)
    return SideBySide(pods, nca, tuple(rows))


def _line(result: SideBySide, i: int) -> str:
    """Row `i` of one size: NCA's cell on the first row only (every ratio is over it)."""
    row = result.rows[i]
    size = f"{result.pods:>6} {result.pods // 4:>8}" if i == 0 else " " * 15
    what = f"{row.fmt}: {INPUT_FORMATS[row.fmt]}" if row.output == "summary" else ""
    nca = result.nca.time_text() if i == 0 else ""
    ratio = speedup(row.nd, result.nca)
    line = (
        f"{size}  {what:<34} {'matrix -o ' + row.output:<20} {row.nd.time_text():>20}  "
        f"{nca:>30}  {ratio.text() if ratio else '':>10}   {verdict(ratio)}"
    )
    return line.rstrip()


def render_versus(results: list[SideBySide], runs: int) -> str:
    head = (
        f"{'pods':>6} {'policies':>8}  {'netpol-doctor input':<34} {'command':<20} "
        f"{'netpol-doctor':>20}  {'NCA 2.1.0 --connectivity':>30}  {'NCA/nd':>10}   target"
    )
    lines = [
        f"Side by side with IBM's network-config-analyzer (issue #12: >= {TARGET:.0f}x "
        "faster on the one-port matrix, whatever the input format)",
        head,
        "-" * len(head),
    ]
    lines += [_line(result, i) for result in results for i in range(len(result.rows))]
    lines.append("")
    lines.append(
        f"{f'median of {runs} runs' if runs > 1 else 'one run'}, whole processes, wall "
        f"time (CPU time: user + sys); netpol-doctor: `matrix --port {PORT} --output "
        "summary|json > /dev/null`"
    )
    lines.append(
        "NCA: `--connectivity` (every port and protocol) on the JSON files, every ratio "
        "over its time; NCA timed out: its time and the ratios are lower bounds, "
        "`unknown` below the target"
    )
    return "\n".join(lines)
