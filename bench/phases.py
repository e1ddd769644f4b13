"""`matrix --output summary`, phase by phase, in one process: how long loading the
snapshot takes, then the class table (`compute_matrix`), then the per-namespace
summary (`render_summary`), so the matrix's own cost reads apart from loading.

    python bench/phases.py SNAPSHOT [--port 8080]

prints one JSON object: {"load", "matrix", "summary"} in seconds, "pods", "classes",
"lines" (of summary) and "peak_rss_mb" (this process, ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from netpol_doctor.matrix import compute_matrix
from netpol_doctor.render.matrixout import render_summary
from netpol_doctor.snapshot import load_snapshot


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("snapshot")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    snap = load_snapshot([args.snapshot])
    t1 = time.perf_counter()
    m = compute_matrix(snap, args.port)
    t2 = time.perf_counter()
    text = render_summary(m)
    t3 = time.perf_counter()
    out = {
        "load": t1 - t0,
        "matrix": t2 - t1,
        "summary": t3 - t2,
        "pods": len(m.pods),
        "classes": int(m.table.shape[0]),
        "lines": text.count("\n"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
