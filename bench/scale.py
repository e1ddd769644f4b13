"""`make bench`, at scale: netpol-doctor and the peer analyzer (NCA) on generated
clusters of growing size, as whole processes.

    python bench/scale.py [--sizes 1000,5000,20000] [--peer | --no-peer] [--timeout 900]
                          [--versus-sizes 10000] [--nca PATH] [--peer-timeout 600]
                          [--versus-peer-timeout SECONDS]

For each size (pods; policies = pods/4; bench/generate.py, cached in bench/.data/ by
size, seed and generator version), median of `--runs` runs of:

  (a) `netpol-doctor diagnose SRC DST --port P` on the first question of
      questions.json (loading the snapshot included: every run is a fresh process);
  (b) `netpol-doctor pod DST`;
  (c) `netpol-doctor matrix --port 8080 --output json > /dev/null`;

and, beside (c), the peer's one-port answer: `nca --connectivity` (it computes every
port and protocol; there is no one-port option) into a file.

Then, with the peer, the side by side (`--versus-sizes`, default 10000; bench/versus.py):
`netpol-doctor matrix --port 8080 --output summary` and `--output json` on the
cluster written in each input format (json, yaml, stream), beside NCA on its JSON
files, with the ratio and the issue's target (>= 100x); a timed-out NCA makes the
ratio a lower bound. CPU time (user + sys) is shown beside wall time.

Then the shapes table (`--shape-sizes`, default 20000; `make bench-100k`: 100000):
`netpol-doctor matrix --port 8080 --output summary` on the same cluster written as
`kubectl -o json` and `-o yaml` Lists and as one object per YAML document, and on
the `diverse` shape (bench/shapes.py), each beside its target (whole process); and
bench/phases.py in one process, so that loading reads apart from the matrix. Wall time is spawn to
exit; peak RSS is the command's own `ru_maxrss`, taken through a small launcher (Linux
carries a parent's peak into its children: bench/peer.py `measure`). A run over its
timeout is killed and shown as "timeout", a failing one as "error: <first stderr
line>"; the remaining runs of that cell are skipped and the table goes on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cells import ND_CODES, Cell, median_of, progress, secs
from generate import cached_cluster
from peer import DATA, PORT, ensure_peer, measure, netpol_doctor_exe
from versus import INPUT_FORMATS, Peer, SideBySide, bench_versus, render_versus


def bench_size(
    pods: int, seed: int, runs: int, timeout: float, peer: Peer | None
) -> tuple[dict[str, Cell], Cell | None]:
    policies = pods // 4
    progress(f"[{pods} pods] cluster ({policies} policies, seed {seed}) ...")
    base = cached_cluster(pods, policies, seed, DATA)
    cluster = base / "cluster"
    q = json.loads((base / "questions.json").read_text())[0]
    exe = netpol_doctor_exe()
    snap = ["--snapshot", str(cluster)]
    packed = ["--snapshot", str(_packed(exe, base))]
    question = [q["src"], q["dst"], "--port", str(q["port"]), "--protocol", q["protocol"]]
    commands = {
        "load compact + diagnose": [exe, "diagnose", *question, *packed],
        "load + diagnose": [
            exe,
            "diagnose",
            q["src"],
            q["dst"],
            "--port",
            str(q["port"]),
            "--protocol",
            q["protocol"],
            *snap,
        ],
        "pod": [exe, "pod", q["dst"], *snap],
        f"matrix TCP {PORT} -o summary": [
            exe,
            "matrix",
            "--port",
            str(PORT),
            "--output",
            "summary",
            *packed,
        ],
        f"matrix TCP {PORT} -o json": [
            exe,
            "matrix",
            "--port",
            str(PORT),
            "--output",
            "json",
            *snap,
        ],
    }
    cells: dict[str, Cell] = {}
    for what, cmd in commands.items():
        progress(f"[{pods} pods] netpol-doctor {what} ...")
        cells[what] = median_of(runs, partial(measure, cmd, timeout, ok_codes=ND_CODES))
    if peer is None:
        return cells, None
    progress(f"[{pods} pods] nca --connectivity ...")
    return cells, peer.cell(base, runs)


#: shape name -> (generator shape, file format)
SHAPES: dict[str, tuple[str, str]] = {
    "json": ("standard", "json"),
    "yaml": ("standard", "yaml"),
    "stream": ("standard", "stream"),
    "diverse": ("diverse", "json"),
}
#: pods -> (seconds, GiB): `matrix --output summary`, whole process (issue #12)
TARGETS: dict[int, tuple[float, float]] = {20_000: (10.0, 2.0), 100_000: (60.0, 8.0)}
_DESCRIBE = {**INPUT_FORMATS, "diverse": "-o json, diverse labels, pods/50 ns"}


@dataclass(frozen=True, slots=True)
class Phases:
    """bench/phases.py's answer, or why there is none."""

    load: float = 0.0
    matrix: float = 0.0
    summary: float = 0.0
    classes: int = 0
    message: str = ""

    def text(self) -> str:
        if self.message:
            return self.message[:40]
        return (
            f"load {secs(self.load):>6}  matrix {secs(self.matrix):>6}  "
            f"summary {secs(self.summary):>6}  {self.classes:>6} classes"
        )


def _phases(snapshot: Path, timeout: float, runs: int) -> Phases:
    done: list[dict[str, float]] = []
    phases = [sys.executable, str(Path(__file__).resolve().parent / "phases.py")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "phases.json"
        for _ in range(runs):
            r = measure([*phases, str(snapshot), "--port", str(PORT)], timeout, stdout=out)
            if not r.ok:
                return Phases(message=f"{r.status}: {r.message}")
            done.append(json.loads(out.read_text()))
    return Phases(
        *(statistics.median(d[k] for d in done) for k in ("load", "matrix", "summary")),
        classes=int(done[0]["classes"]),
    )


def bench_shapes(
    pods: int, shapes: list[str], seed: int, runs: int, timeout: float
) -> list[tuple[str, Cell, Phases]]:
    """`matrix --port 8080 --output summary`, whole process, per shape; and phases."""
    exe = netpol_doctor_exe()
    out = []
    for name in shapes:
        shape, fmt = SHAPES[name]
        progress(f"[{pods} pods] {name} cluster ({pods // 4} policies, seed {seed}) ...")
        cluster = cached_cluster(pods, pods // 4, seed, DATA, shape, fmt) / "cluster"
        cmd = [
            exe,
            "matrix",
            "--port",
            str(PORT),
            "--output",
            "summary",
            "--snapshot",
            str(cluster),
        ]
        progress(f"[{pods} pods] {name}: matrix -o summary ...")
        cell = median_of(runs, partial(measure, cmd, timeout, ok_codes=ND_CODES))
        progress(f"[{pods} pods] {name}: phases ...")
        out.append((name, cell, _phases(cluster, timeout, runs)))
    return out


#: pods -> seconds, whole process (issue #12): load + diagnose from YAML or JSON, from
#: the compact format, and lint / diff --port P (20,000 pods only)
LOAD_TARGETS: dict[int, float] = {20_000: 5.0, 100_000: 20.0}
COMPACT_TARGETS: dict[int, float] = {20_000: 2.0, 100_000: 3.0}
REVIEW_TARGETS: dict[int, float] = {20_000: 10.0}


def bench_loading(
    pods: int, shapes: list[str], seed: int, runs: int, timeout: float
) -> list[tuple[str, Cell, float | None]]:
    """Whole-process `diagnose` from every input shape and from a compact file, and
    `lint` and `diff --port P` (one policy removed) from the compact file."""
    exe = netpol_doctor_exe()
    rows: list[tuple[str, Cell, float | None]] = []
    for name in shapes:
        shape, fmt = SHAPES[name]
        base = cached_cluster(pods, pods // 4, seed, DATA, shape, fmt)
        q = json.loads((base / "questions.json").read_text())[0]
        question = [q["src"], q["dst"], "--port", str(q["port"]), "--protocol", q["protocol"]]
        cmd = [exe, "diagnose", *question, "--snapshot", str(base / "cluster")]
        progress(f"[{pods} pods] {name}: load + diagnose ...")
        cell = median_of(runs, partial(measure, cmd, timeout, ok_codes=ND_CODES))
        rows.append((f"load + diagnose, {name}", cell, LOAD_TARGETS.get(pods)))
        if name != "json":
            continue
        compact = _packed(exe, base)
        cmd = [exe, "diagnose", *question, "--snapshot", str(compact)]
        progress(f"[{pods} pods] compact: load + diagnose ...")
        cell = median_of(runs, partial(measure, cmd, timeout, ok_codes=ND_CODES))
        rows.append(("load compact + diagnose", cell, COMPACT_TARGETS.get(pods)))
        if pods not in REVIEW_TARGETS:
            continue
        cmd = [exe, "lint", "--snapshot", str(compact), "--output", "json"]
        progress(f"[{pods} pods] lint ...")
        cell = median_of(runs, partial(measure, cmd, timeout, ok_codes=ND_CODES))
        rows.append(("lint -o json (compact)", cell, REVIEW_TARGETS[pods]))
        after = compact.with_name(f"one-policy-removed-{compact.name}")
        if not after.exists():
            _one_policy_removed(compact, after)
        cmd = [exe, "diff", "--before", str(compact), "--after", str(after), "--port", str(PORT)]
        progress(f"[{pods} pods] diff ...")
        cell = median_of(runs, partial(measure, cmd, timeout, ok_codes=ND_CODES))
        rows.append((f"diff --port {PORT}, one policy removed", cell, REVIEW_TARGETS[pods]))
        # The first policy changes no verdict on PORT; these do (thousands of pairs),
        # so the attribution (each change reverted alone) is measured too.
        flips = compact.with_name(f"allow-same-namespace-removed-{compact.name}")
        if not flips.exists():
            _policies_removed(compact, flips)
        cmd = [exe, "diff", "--before", str(compact), "--after", str(flips), "--port", str(PORT)]
        progress(f"[{pods} pods] diff, verdicts flipped ...")
        cell = median_of(runs, partial(measure, cmd, timeout, ok_codes=ND_CODES))
        rows.append((f"diff --port {PORT}, 4 policies removed", cell, REVIEW_TARGETS[pods]))
    return rows


def _policies_removed(compact: Path, out: Path) -> None:
    """Two namespaces' allow-same-namespace, one ipBlock allow and one policy that
    never admits PORT (it must not be named as a cause)."""
    from netpol_doctor.compact import load_compact, save_compact

    snap = load_compact(compact)
    names = sorted({p.namespace for p in snap.policies})[:2]
    drop = {f"{ns}/allow-same-namespace" for ns in names}
    drop |= {f"{names[0]}/allow-metrics-scrape", f"{names[0]}/cache-allow-vpc"}
    snap.policies = [p for p in snap.policies if p.ref.key not in drop]
    save_compact(snap, out)


def _packed(exe: str, base: Path) -> Path:
    """The cluster in the compact format (`snapshot pack`), made once per cluster and
    format: the name carries the schema, so a file from another version is not reused."""
    from netpol_doctor.compact import SCHEMA

    compact = base / f"snapshot-{SCHEMA}.npds"
    if not compact.exists():
        cmd = [exe, "snapshot", "pack", str(compact), "--snapshot", str(base / "cluster")]
        subprocess.run(cmd, check=True, capture_output=True)
    return compact


def _one_policy_removed(compact: Path, out: Path) -> None:
    from netpol_doctor.compact import load_compact, save_compact

    snap = load_compact(compact)
    snap.policies = sorted(snap.policies, key=lambda p: p.ref.key)[1:]
    save_compact(snap, out)


def render_loading(
    results: list[tuple[int, list[tuple[str, Cell, float | None]]]], runs: int
) -> str:
    head = f"{'pods':>6} {'policies':>8}  {'command':<42} {'whole process':>19}   target"
    lines = [head, "-" * len(head)]
    for pods, rows in results:
        for i, (what, cell, target) in enumerate(rows):
            size = f"{pods:>6} {pods // 4:>8}" if i == 0 else " " * 15
            verdict = ""
            if target is not None and cell.status == "ok":
                verdict = f"< {target:.0f}s: {'met' if cell.seconds < target else 'MISSED'}"
            lines.append(f"{size}  {what:<42} {cell.text():>19}   {verdict}".rstrip())
    lines.append("")
    lines.append(
        f"{f'median of {runs} runs' if runs > 1 else 'one run'}; whole process with peak "
        "RSS; diagnose asks the cluster's first sample question"
    )
    return "\n".join(lines)


def _verdict(cell: Cell, pods: int) -> str:
    target = TARGETS.get(pods)
    if target is None or cell.status != "ok":
        return ""
    secs, gib = target
    ok = cell.seconds < secs and cell.rss_mb < gib * 1024
    return f"< {secs:.0f}s, < {gib:.0f} GiB: {'met' if ok else 'MISSED'}"


def render_shapes(results: list[tuple[int, list[tuple[str, Cell, Phases]]]], runs: int) -> str:
    head = (
        f"{'pods':>6} {'policies':>8}  {'shape':<46} {'matrix -o summary':>19}   "
        f"{'target':<26} in one process"
    )
    lines = [head, "-" * len(head)]
    for pods, rows in results:
        for i, (name, cell, phases) in enumerate(rows):
            size = f"{pods:>6} {pods // 4:>8}" if i == 0 else " " * 15
            what = f"{name}: {_DESCRIBE[name]}"
            line = f"{size}  {what:<46} {cell.text():>19}   {_verdict(cell, pods):<26} "
            lines.append((line + phases.text()).rstrip())
    lines.append("")
    lines.append(
        f"{f'median of {runs} runs' if runs > 1 else 'one run'}; "
        f"whole process: `netpol-doctor matrix --port {PORT} --output summary`, peak RSS "
        "of the command alone; in one process: bench/phases.py (load, compute_matrix, "
        "render_summary)"
    )
    return "\n".join(lines)


def render(results: list[tuple[int, dict[str, Cell], Cell | None]], runs: int, peer: bool) -> str:
    head = f"{'pods':>6} {'policies':>8}  {'what':<28} {'netpol-doctor':>19}"
    if peer:
        head += f"   {'NCA 2.1.0 (all ports)':>21}   {'NCA/nd':>6}"
    lines = [head, "-" * len(head)]
    for pods, cells, nca in results:
        for i, (what, cell) in enumerate(cells.items()):
            size = f"{pods:>6} {pods // 4:>8}" if i == 0 else " " * 15
            line = f"{size}  {what:<28} {cell.text():>19}"
            if peer and what.startswith("matrix") and nca is not None:
                line += f"   {nca.text():>21}"
                if nca.status == "ok" and cell.status == "ok" and cell.seconds > 0:
                    line += f"   {nca.seconds / cell.seconds:>5.1f}x"
            lines.append(line.rstrip())
    lines.append("")
    lines.append(
        f"{f'median of {runs} runs' if runs > 1 else 'one run'}, whole processes "
        "(interpreter start and loading included); "
        "RSS = the command's own peak (through a launcher: bench/peer.py measure)"
    )
    if peer:
        lines.append(
            "NCA: `nca --connectivity` (every port and protocol, 2 pods per class), "
            "on the same files"
        )
    return "\n".join(lines)


def _peer(args: argparse.Namespace) -> Peer | None:
    if not args.peer:
        return None
    return Peer(args.nca or ensure_peer(), args.peer_timeout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,5000,20000", help="pod counts, comma-separated")
    ap.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--timeout", type=float, default=900, help="seconds per netpol-doctor run (15 min)"
    )
    ap.add_argument("--peer-timeout", type=float, default=600, help="seconds per NCA run (10 min)")
    ap.add_argument(
        "--nca", type=Path, help="the nca executable (default: bench/.peer-venv, made on first use)"
    )
    ap.add_argument(
        "--versus-sizes",
        default="10000",
        help="pod counts for the side by side with NCA, every input format (needs --peer)",
    )
    ap.add_argument(
        "--versus-peer-timeout",
        type=float,
        help="seconds per NCA run in the side by side (default: --peer-timeout); a run "
        "cut short only bounds the ratio",
    )
    ap.add_argument(
        "--shape-sizes",
        default="20000",
        help="pod counts for the shapes table (empty: none); 100000 is `make bench-100k`",
    )
    ap.add_argument(
        "--shapes", default=",".join(SHAPES), help=f"comma-separated, of {', '.join(SHAPES)}"
    )
    args = ap.parse_args(argv)
    try:
        sizes, versus_sizes, shape_sizes = (
            [int(s) for s in text.split(",") if s.strip()]
            for text in (args.sizes, args.versus_sizes, args.shape_sizes)
        )
    except ValueError:
        ap.error("--sizes, --versus-sizes and --shape-sizes take pod counts, e.g. 1000,5000")
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if unknown := [s for s in shapes if s not in SHAPES]:
        ap.error(f"unknown shape(s): {', '.join(unknown)}")
    peer = _peer(args) if sizes or versus_sizes else None
    results = []
    for pods in sizes:
        cells, nca = bench_size(pods, args.seed, args.runs, args.timeout, peer)
        results.append((pods, cells, nca))
    versus: list[SideBySide] = []
    if peer is not None:
        exe = netpol_doctor_exe()
        versus_peer = replace(peer, timeout=args.versus_peer_timeout or peer.timeout)
        versus = [
            bench_versus(exe, pods, args.seed, args.runs, args.timeout, versus_peer)
            for pods in versus_sizes
        ]
    by_shape = [
        (pods, bench_shapes(pods, shapes, args.seed, args.runs, args.timeout))
        for pods in shape_sizes
    ]
    loading = [
        (pods, bench_loading(pods, shapes, args.seed, args.runs, args.timeout))
        for pods in shape_sizes
    ]
    tables = [
        render(results, args.runs, args.peer) if results else "",
        render_versus(versus, args.runs) if versus else "",
        render_shapes(by_shape, args.runs) if by_shape else "",
        render_loading(loading, args.runs) if loading else "",
    ]
    print("\n\n".join(t for t in tables if t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
