"""`make bench`: whole-process timings of the CLI, median of several runs.

Each figure is a fresh `netpol-doctor` process (interpreter start, imports, loading
the snapshot, the question, rendering), as a user at a terminal experiences it.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = str(ROOT / "examples" / "cluster")
RUNS = 9

QUESTIONS: list[tuple[str, list[str]]] = [
    (
        "diagnose (examples/, demo question)",
        ["diagnose", "monitoring/prometheus-0", "shop/api-7c9d8b6f5-x4kzp", "--port", "9090"],
    ),
    (
        "diagnose via Service (examples/)",
        ["diagnose", "shop/frontend-6b8f9c7d4-x2vqp", "svc/shop/api", "--port", "80"],
    ),
    ("pod (examples/)", ["pod", "shop/api-7c9d8b6f5-x4kzp"]),
    ("matrix all pods, TCP 8080 (examples/)", ["matrix", "--port", "8080", "-o", "json"]),
]


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1, 3):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}")
    return elapsed


def live() -> None:
    """A live diagnose against the test API server (HTTPS on 127.0.0.1) serving the
    example cluster: API requests made and whole-process time."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fakeapi import FakeApiServer, load_manifests

    exe = shutil.which("netpol-doctor", path=str(Path(sys.executable).parent))
    assert exe is not None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, FakeApiServer(load_manifests(EXAMPLES)) as srv:
        cfg = Path(tmp) / "kubeconfig"
        srv.write_kubeconfig(cfg)
        print()
        print(f"{'live (HTTPS API server on 127.0.0.1)':<42} {'median':>8} {'requests':>9}")
        for label, args in QUESTIONS[:3]:
            cmd = [exe, *args, "--kubeconfig", str(cfg)]
            times, counts = [], []
            for _ in range(5):
                before = len(srv.requests)
                times.append(_time(cmd))
                counts.append(len(srv.requests) - before)
            name = label.replace("(examples/", "(live")
            median = statistics.median(times) * 1000
            print(f"{name:<42} {median:>6.0f}ms {counts[-1]:>9}")


def main() -> None:
    exe = shutil.which("netpol-doctor", path=str(Path(sys.executable).parent))
    if exe is None:
        sys.exit("netpol-doctor is not installed in this environment")
    print(f"{'what':<42} {'median':>8} {'min':>8} {'max':>8}   ({RUNS} runs, whole process)")
    for label, args in QUESTIONS:
        cmd = [exe, *args, "--snapshot", EXAMPLES]
        _time(cmd)  # warm the page cache
        times = [_time(cmd) for _ in range(RUNS)]
        print(
            f"{label:<42} {statistics.median(times) * 1000:>6.0f}ms "
            f"{min(times) * 1000:>6.0f}ms {max(times) * 1000:>6.0f}ms"
        )


if __name__ == "__main__":
    main()
    live()
