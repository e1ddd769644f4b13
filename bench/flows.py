"""`make bench`: `netpol-doctor flows` on a generated Hubble log (whole process).

The log is `hubble observe -o jsonpb` lines (GetFlowsResponse with a full Flow, as
tests/data/flows/hubble.jsonl) between the example cluster's pods: forwarded and
dropped flows, a few replies, on 200 MB by default (`--mb`) or `--records N` (`make
bench` takes 1,000,000 records, about 1 GB; `make bench-quick` 20 MB). Prints
records, size, wall and CPU time, records per CPU second (wall time on a shared
machine says more about the neighbours) and the command's own peak RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cluster"


def _pods() -> list[tuple[str, str, str, list[str]]]:
    sys.path.insert(0, str(ROOT / "src"))
    from netpol_doctor.snapshot import load_snapshot

    snap = load_snapshot([EXAMPLES])
    return [
        (p.namespace, p.name, str(p.ips[0]), [f"k8s:{k}={v}" for k, v in p.labels])
        for p in snap.pods
        if p.ips and not p.host_network
    ]


def _line(rng: random.Random, pods: list[tuple[str, str, str, list[str]]], i: int) -> str:
    (sns, sname, sip, slabels), (dns, dname, dip, dlabels) = rng.sample(pods, 2)
    port = rng.choice((80, 443, 5432, 8080, 9090, 53))
    dropped = rng.random() < 0.3
    second = 1796407200 + i // 200
    when = f"2026-12-04T{18 + second // 3600 % 6:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    when += f".{rng.randrange(10**9):09d}Z"
    flow: dict[str, object] = {
        "time": when,
        "uuid": f"{rng.getrandbits(128):032x}",
        "verdict": "DROPPED" if dropped else "FORWARDED",
        "ethernet": {"source": "0a:58:0a:f4:01:0a", "destination": "0a:58:0a:f4:01:0b"},
        "IP": {"source": sip, "destination": dip, "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": rng.randrange(32768, 61000), "destination_port": port}},
        "source": {
            "ID": rng.randrange(4000),
            "identity": rng.randrange(70000),
            "namespace": sns,
            "labels": slabels,
            "pod_name": sname,
        },
        "destination": {
            "ID": rng.randrange(4000),
            "identity": rng.randrange(70000),
            "namespace": dns,
            "labels": dlabels,
            "pod_name": dname,
        },
        "Type": "L3_L4",
        "node_name": f"node-{rng.randrange(1, 4)}",
        "event_type": {"type": 1 if dropped else 4},
        "traffic_direction": "INGRESS",
        "is_reply": rng.random() < 0.05,
        "Summary": "TCP Flags: SYN",
    }
    if dropped:
        flow["drop_reason_desc"] = "POLICY_DENIED"
    return json.dumps(
        {"flow": flow, "node_name": flow["node_name"], "time": when}, separators=(",", ":")
    )


def generate(path: Path, mb: float | None, records: int | None) -> int:
    rng = random.Random(11)
    pods = _pods()
    limit = int(mb * 1e6) if mb is not None else None
    written = size = 0
    with open(path, "w") as out:
        while (records is None or written < records) and (limit is None or size < limit):
            line = _line(rng, pods, written) + "\n"
            out.write(line)
            size += len(line)
            written += 1
    return written


# Linux carries a process's peak RSS across fork and exec, so the command is started by
# a small launcher (as in peer.py) that reports its child's own peak and CPU time.
_LAUNCH = (
    "import resource,subprocess,sys\n"
    "rc=subprocess.call(sys.argv[1:],stdout=subprocess.DEVNULL)\n"
    "u=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stderr.write('@usage %d %f\\n' % (u.ru_maxrss, u.ru_utime + u.ru_stime))\n"
    "sys.exit(rc if rc >= 0 else 128 - rc)\n"
)


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MB) of one run of `cmd`."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCH, *cmd], capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"flows failed ({proc.returncode}): {proc.stderr[-2000:]}")
    line = next(ln for ln in reversed(proc.stderr.splitlines()) if ln.startswith("@usage "))
    _, rss_kb, cpu = line.split()
    return wall, float(cpu), int(rss_kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=None, help="size of the log (default 200)")
    ap.add_argument("--records", type=int, default=None, help="records instead of --mb")
    args = ap.parse_args()
    mb = args.mb if args.mb is not None or args.records is not None else 200.0
    exe = shutil.which("netpol-doctor", path=str(Path(sys.executable).parent))
    if exe is None:
        sys.exit("netpol-doctor is not installed in this environment")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "hubble.jsonl"
        n = generate(log, mb, args.records)
        size = log.stat().st_size / 1e6
        cmd = [exe, "flows", str(log), "--snapshot", str(EXAMPLES), "-o", "json"]
        wall, cpu, rss = measure(cmd)
        print()
        print(
            f"{'flows, generated Hubble log':<30} {'records':>9} {'MB':>5} {'wall':>7} "
            f"{'CPU':>7} {'records/s (CPU)':>16} {'peak RSS':>9}"
        )
        print(
            f"{'netpol-doctor flows -o json':<30} {n:>9} {size:>5.0f} {wall:>6.1f}s "
            f"{cpu:>6.1f}s {n / cpu:>16.0f} {rss:>6.0f} MB"
        )


if __name__ == "__main__":
    main()
