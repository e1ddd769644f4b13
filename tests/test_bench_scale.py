"""bench/scale.py's side by side with NCA (bench/versus.py): the ratio it prints is
one the runs support (a lower bound when NCA timed out, never a MISSED from one),
CPU time is measured up to a kill, and the whole step runs against a fake `nca`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from cells import Cell  # noqa: E402
from peer import measure  # noqa: E402
from versus import Ratio, speedup, verdict  # noqa: E402


@pytest.mark.parametrize(
    ("nd", "nca", "text", "expected"),
    [
        (Cell("ok", 2.0), Cell("ok", 400.0), "200.0x", ">= 100x: met"),
        (Cell("ok", 2.0), Cell("ok", 100.0), "50.0x", ">= 100x: MISSED"),
        # Rounded down: 99.96x is not shown as 100.0x, and misses.
        (Cell("ok", 1.0), Cell("ok", 99.96), "99.9x", ">= 100x: MISSED"),
        # NCA killed at its timeout: it would have taken longer, the ratio is at least.
        (Cell("ok", 5.0), Cell("timeout", 600.2), ">= 120.0x", ">= 100x: met"),
        (Cell("ok", 10.0), Cell("timeout", 600.2), ">= 60.0x", ">= 100x: unknown"),
    ],
)
def test_ratio_and_verdict(nd: Cell, nca: Cell, text: str, expected: str) -> None:
    ratio = speedup(nd, nca)
    assert ratio is not None
    assert ratio.text() == text
    assert verdict(ratio) == expected


@pytest.mark.parametrize(
    ("nd", "nca"),
    [
        (Cell("timeout", 900.0), Cell("ok", 300.0)),  # netpol-doctor has no time
        (Cell("error", 1.0, message="boom"), Cell("ok", 300.0)),
        (Cell("ok", 1.0), Cell("error", 2.0, message="Traceback")),  # NCA failed early
        (Cell("timeout", 900.0), Cell("timeout", 600.0)),
    ],
)
def test_no_ratio_without_both_times(nd: Cell, nca: Cell) -> None:
    assert speedup(nd, nca) is None
    assert verdict(None) == ""


def test_bound_flag_is_what_the_text_says() -> None:
    assert Ratio(150.0, bound=True).text() == ">= 150.0x"
    assert Ratio(150.0).text() == "150.0x"


BURN = "import time\nend = time.process_time() + {secs}\nwhile time.process_time() < end: pass\n"


def test_measure_reports_cpu_time_of_a_finished_and_of_a_killed_command() -> None:
    done = measure([sys.executable, "-c", BURN.format(secs=0.3)], timeout=60)
    assert done.ok and done.cpu_seconds is not None
    assert 0.3 <= done.cpu_seconds < 5
    killed = measure([sys.executable, "-c", BURN.format(secs=60)], timeout=1.5)
    assert killed.status == "timeout"
    # Read from /proc just before the kill: some CPU, never more than the wall time
    # allows on the two cores it could have used.
    assert killed.cpu_seconds is not None
    assert 0 < killed.cpu_seconds <= 2 * killed.seconds


def test_side_by_side_against_a_fake_nca_that_times_out(tmp_path: Path) -> None:
    """The whole step as `make bench` runs it, on a tiny cluster, with an `nca` that
    records its arguments and never finishes: every row shows a lower bound."""
    args_file = tmp_path / "nca-args"
    nca = tmp_path / "nca"
    nca.write_text(f'#!/bin/sh\necho "$@" > {args_file}\nexec sleep 60\n')
    nca.chmod(0o755)
    env = {**os.environ, "NETPOL_BENCH_DATA": str(tmp_path / "data")}
    cmd = [
        sys.executable,
        str(BENCH / "scale.py"),
        *("--sizes", "", "--shape-sizes", "", "--versus-sizes", "200", "--runs", "1"),
        *("--nca", str(nca), "--peer-timeout", "1"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines() if "matrix -o " in ln]
    assert len(rows) == 6  # json, yaml, stream x summary, json
    for fmt in ("json: kubectl -o json Lists", "yaml: kubectl -o yaml Lists", "stream: one"):
        assert sum(fmt in row for row in rows) == 1
    assert "timeout >1.0s" in rows[0]
    for row in rows:
        # NCA stopped after 1 s: a bound below 100x decides nothing.
        assert re.search(r">= \d+\.\dx\s+>= 100x: unknown$", row), row
    assert "MISSED" not in r.stdout and ": met" not in r.stdout
    # NCA was given the JSON files of the same cluster.
    json_cluster = tmp_path / "data" / "p200-n50-s1" / "cluster"
    called = args_file.read_text().split()
    assert called[:2] == ["--connectivity", str(json_cluster / "networkpolicies.json")]
