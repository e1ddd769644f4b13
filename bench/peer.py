"""The peer analyzer: IBM's network-config-analyzer (NCA) on the same generated
cluster, and its one-port pod-to-pod answers compared with netpol-doctor's.

    python bench/peer.py [--pods 1000] [--policies 250] [--seed 1] [--sample 200]

NCA 2.1.0 (PyPI `network-config-analyzer`, command `nca`) lives in its own venv,
bench/.peer-venv, created on first use. It has no "one port" option: `nca
--connectivity` computes the whole connectivity map (every protocol and port) and we
keep TCP 8080. Its `txt_no_fw_rules` output with `--output_endpoints pods` prints one
line per connected pair, `src => dst : connections`, but only for *representative*
pods: NCA keeps at most two pods per class of pods with the same namespace, owner
and labels (so two per ReplicaSet), as selectors cannot tell them apart. A pod pair
is answered through its classes' representatives (two distinct pods of one class:
representative 1 -> representative 2). Self pairs are skipped (NCA prints none).

netpol-doctor answers with `matrix --port 8080 --output json`. Both are run as
whole processes, each with a timeout; `measure` is also what bench/scale.py uses.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
#: generated clusters (and the tools' outputs), cached; NETPOL_BENCH_DATA moves them
DATA = Path(os.environ.get("NETPOL_BENCH_DATA") or BENCH / ".data")
PEER_VENV = BENCH / ".peer-venv"
NCA_REQUIREMENT = "network-config-analyzer==2.1.0"
PORT = 8080
PROTOCOL = "TCP"

sys.path.insert(0, str(BENCH))
from generate import cached_cluster  # noqa: E402

__all__ = [
    "Comparison",
    "Run",
    "compare",
    "conn_allows",
    "ensure_peer",
    "explain",
    "measure",
    "nca_answer",
    "nca_command",
    "nca_representatives",
    "netpol_doctor_exe",
    "parse_nca",
]


# --- whole-process measurement -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """One process: `status` is "ok", "timeout" or "error"."""

    status: str
    seconds: float
    max_rss_kb: int  # ru_maxrss of this child alone (os.wait4), as /usr/bin/time -v
    returncode: int | None
    message: str = ""  # first line of stderr when status is "error"
    #: user + sys of the command (and the children it waited for); None if unknown
    cpu_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def measure(
    cmd: Sequence[str],
    timeout: float,
    stdout: Path | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> Run:
    """Run `cmd` to completion or `timeout` seconds (then kill its process group).

    Wall time from spawn to exit; peak RSS and CPU time of the command alone, as the
    launcher reports them (the rusage of one process, unlike our RUSAGE_CHILDREN,
    which is a maximum over all); CPU time up to the kill, from /proc, on a timeout.
    """
    with tempfile.TemporaryFile() as err, open(stdout or os.devnull, "wb") as out:
        start = time.perf_counter()
        # Linux carries a process's peak RSS across fork and exec: a child of this (large)
        # bench process would report at least our own peak. A small exec'd launcher
        # starts the command instead, so its peak is the command's own.
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCH, *cmd],
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        lock = threading.Lock()
        exited = False
        killed = False
        cpu_at_kill: float | None = None

        def kill() -> None:
            nonlocal killed, cpu_at_kill
            with lock:
                if not exited:
                    killed = True
                    cpu_at_kill = _group_cpu(proc.pid)
                    os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        # Wait without reaping, so the timer can never signal a recycled pid...
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        with lock:
            exited = True
        timer.cancel()
        # ...then reap it; the launcher exits with the command's code, and its
        # RUSAGE_CHILDREN peak is the command's alone.
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        rss, cpu = _launcher_usage(err) or (int(usage.ru_maxrss), None)
        if killed:
            return Run("timeout", elapsed, rss, None, cpu_seconds=cpu_at_kill)
        if proc.returncode not in ok_codes:
            err.seek(0)
            lines = [ln.strip() for ln in err.read().decode(errors="replace").splitlines()]
            lines = [ln for ln in lines if ln and not ln.startswith("@usage ")]
            lines = lines or [f"exit code {proc.returncode}"]
            # A Python traceback's first line says nothing; its last names the error.
            first = lines[-1] if lines[0].startswith("Traceback") else lines[0]
            return Run("error", elapsed, rss, proc.returncode, first, cpu)
        return Run("ok", elapsed, rss, proc.returncode, cpu_seconds=cpu)


_LAUNCH = (
    "import resource,subprocess,sys\n"
    "rc=subprocess.call(sys.argv[1:])\n"
    "u=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stderr.write('\\n@usage %d %f\\n' % (u.ru_maxrss, u.ru_utime + u.ru_stime))\n"
    "sys.exit(rc if rc >= 0 else 128 - rc)\n"
)


def _launcher_usage(err: IO[bytes]) -> tuple[int, float] | None:
    """The command's peak RSS (KiB) and CPU seconds, as the launcher reported them."""
    err.seek(0)
    lines = err.read().decode(errors="replace").splitlines()
    for line in reversed(lines):
        if line.startswith("@usage "):
            _, rss, cpu = line.split()
            return int(rss), float(cpu)
    return None


def _group_cpu(pgid: int) -> float | None:
    """CPU seconds (user + sys, with the children they reaped) of the processes of
    group `pgid` but its leader, the launcher: the command's CPU time so far.
    Fields of /proc/PID/stat after the command name: proc(5)."""
    ticks = 0
    found = False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process exited meanwhile
            continue
        if int(fields[2]) == pgid and int(stat.parent.name) != pgid:
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
            found = True
    return ticks / os.sysconf("SC_CLK_TCK") if found else None


# --- the two tools --------------------------------------------------------------------


def netpol_doctor_exe() -> str:
    exe = Path(sys.executable).parent / "netpol-doctor"
    if not exe.is_file():
        sys.exit(f"netpol-doctor is not installed next to {sys.executable}")
    return str(exe)


def ensure_peer(venv: Path = PEER_VENV) -> Path:
    """The `nca` executable, installing NCA into its own venv on first use."""
    nca = venv / "bin" / "nca"
    if nca.is_file():
        return nca
    print(f"installing {NCA_REQUIREMENT} into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, NCA_REQUIREMENT], check=True)
    return nca


def nca_command(nca: Path, cluster: Path, out: Path) -> list[str]:
    """NCA's whole connectivity map, one line per connected pod pair."""
    return [
        str(nca),
        "--connectivity",
        str(cluster / "networkpolicies.json"),
        "--pod_list",
        str(cluster / "pods.json"),
        "--ns_list",
        str(cluster / "namespaces.json"),
        "--output_format",
        "txt_no_fw_rules",
        "--output_endpoints",
        "pods",
        "--file_out",
        str(out),
    ]


def matrix_command(exe: str, cluster: Path) -> list[str]:
    return [exe, "matrix", "--port", str(PORT), "--output", "json", "--snapshot", str(cluster)]


# --- reading NCA's answer ---------------------------------------------------------------

_CUBE = re.compile(r"\{([^{}]*)\}")
_FIELD_SPLIT = re.compile(r",(?=[a-z_]+:)")
_LINE = re.compile(r"^(?P<src>\S+) => (?P<dst>\S+) : (?P<conn>.+)$")


def _protocols_include(value: str, protocol: str) -> bool:
    """NCA's ProtocolSet text: "*", "TCP, UDP" or "all but TCP, UDP"."""
    value = value.strip()
    if value == "*":
        return True
    if value.startswith("all but "):
        return protocol not in [p.strip() for p in value[len("all but ") :].split(",")]
    return protocol in [p.strip() for p in value.split(",")]


def _ports_include(value: str, port: int) -> bool:
    """NCA's interval text: "8080,9000" or "8000-8099"."""
    for part in value.split(","):
        lo, _, hi = part.strip().partition("-")
        if int(lo) <= port <= int(hi or lo):
            return True
    return False


def _cube_allows(body: str, protocol: str, port: int) -> bool:
    fields = dict(f.split(":", 1) for f in _FIELD_SPLIT.split(body) if ":" in f)
    # A dimension left out of a cube holds every value (src_ports never matter here).
    if "protocols" in fields and not _protocols_include(fields["protocols"], protocol):
        return False
    return "dst_ports" not in fields or _ports_include(fields["dst_ports"], port)


def conn_allows(conn: str, protocol: str = PROTOCOL, port: int = PORT) -> bool:
    """Does NCA's connection text (`All connections`, `{protocols:TCP,dst_ports:8080}`,
    `All but {...}`, several cubes joined by commas) include protocol/port?"""
    conn = conn.strip()
    if conn == "All connections":
        return True
    if conn == "No connections":
        return False
    negate = conn.startswith("All but ")
    allowed = any(_cube_allows(body, protocol, port) for body in _CUBE.findall(conn))
    return not allowed if negate else allowed


def parse_nca(text: str, protocol: str = PROTOCOL, port: int = PORT) -> set[tuple[str, str]]:
    """(src, dst) pairs NCA connects on protocol/port; ends are `ns/pod` or IP ranges."""
    out: set[tuple[str, str]] = set()
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m and conn_allows(m["conn"], protocol, port):
            out.add((m["src"], m["dst"]))
    return out


def nca_representatives(pods: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """pod key -> its NCA class's representatives (the first two pods, in file order,
    with the same namespace, first owner and labels: NCA's `canonical_form`)."""
    classes: dict[tuple[Any, ...], list[str]] = {}
    member: dict[str, tuple[Any, ...]] = {}
    for p in pods:
        meta = p.get("metadata", {})
        key = f"{meta.get('namespace', 'default')}/{meta['name']}"
        owners = meta.get("ownerReferences") or [{}]
        cls = (
            meta.get("namespace", "default"),
            owners[0].get("kind", ""),
            owners[0].get("name", ""),
            tuple(sorted((meta.get("labels") or {}).items())),
        )
        reps = classes.setdefault(cls, [])
        if len(reps) < 2:
            reps.append(key)
        member[key] = cls
    return {key: tuple(classes[cls]) for key, cls in member.items()}


def nca_answer(
    connected: set[tuple[str, str]], reps: dict[str, tuple[str, ...]], src: str, dst: str
) -> bool | None:
    """NCA's answer for a pod pair, through the representatives of their classes."""
    rs, rd = reps[src], reps[dst]
    if rs == rd:  # two pods of one class: NCA answers for its two representatives
        return (rs[0], rs[1]) in connected if len(rs) > 1 else None
    return (rs[0], rd[0]) in connected


# --- comparing ------------------------------------------------------------------------


@dataclass
class Comparison:
    pods: int
    #: over every ordered pair of distinct pods: (netpol-doctor, NCA) answer -> count
    #: (empty above FULL_COMPARE_MAX pods: sampled pairs only)
    totals: Counter[tuple[bool | None, bool | None]]
    sample: list[tuple[str, str, bool | None, bool | None]]
    #: every disagreeing pair (when `totals` covers all pairs)
    disagreeing: list[tuple[str, str, bool | None, bool | None]]

    @property
    def disagreements(self) -> list[tuple[str, str, bool | None, bool | None]]:
        return [row for row in self.sample if row[2] is not row[3]]


FULL_COMPARE_MAX = 5000
CLASSIFY_MAX = 200_000


class _Reservoir:
    """A uniform sample of k items from a stream, deterministic for a seeded rng."""

    def __init__(self, k: int, rng: random.Random) -> None:
        self.k, self.rng, self.seen = k, rng, 0
        self.items: list[tuple[str, str]] = []

    def add(self, item: tuple[str, str]) -> None:
        self.seen += 1
        if len(self.items) < self.k:
            self.items.append(item)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.k:
                self.items[j] = item


def compare(
    cluster: Path, nd_json: Path, nca_txt: Path, sample: int = 200, seed: int = 1
) -> Comparison:
    """Both answers for every ordered pair of distinct pods (up to FULL_COMPARE_MAX
    pods), and a deterministic sample: half uniform, a quarter among the pairs
    netpol-doctor allows and a quarter among those NCA allows (allows are rare)."""
    pods = json.loads((cluster / "pods.json").read_text())["items"]
    reps = nca_representatives(pods)
    connected = parse_nca(nca_txt.read_text())
    data = json.loads(nd_json.read_text())
    nd: dict[str, dict[str, bool | None]] = data["allowed"]
    keys = [k for k in data["pods"] if k in reps]
    rng = random.Random(seed)
    picked: dict[tuple[str, str], None] = {}
    while len(picked) < min(sample // 2, len(keys) * (len(keys) - 1)):
        s, d = rng.choice(keys), rng.choice(keys)
        if s != d:
            picked[(s, d)] = None
    totals: Counter[tuple[bool | None, bool | None]] = Counter()
    disagreeing: list[tuple[str, str, bool | None, bool | None]] = []
    if len(keys) <= FULL_COMPARE_MAX:
        nd_yes, nca_yes = _Reservoir(sample // 4, rng), _Reservoir(sample // 4, rng)
        for s in keys:
            row = nd[s]
            for d in keys:
                if s == d:
                    continue
                a, b = row[d], nca_answer(connected, reps, s, d)
                totals[(a, b)] += 1
                if a is not b:
                    disagreeing.append((s, d, a, b))
                if a:
                    nd_yes.add((s, d))
                if b:
                    nca_yes.add((s, d))
        picked.update(dict.fromkeys(nd_yes.items + nca_yes.items))
    rows = [(s, d, nd[s][d], nca_answer(connected, reps, s, d)) for s, d in picked]
    return Comparison(len(keys), totals, rows, disagreeing)


# Known reasons the two answers differ (docs/benchmark.md, "Semantic differences").
CAUSE_IPBLOCK_POD = "ipBlock covers the pod IP: Calico matches it (NP-51); NCA never does"
CAUSE_HOST_NETWORK = "hostNetwork pod = its node (NP-94, NP-90); NCA treats it as a pod"
CAUSE_NCA_EXISTS = (
    "NCA bug: Exists/DoesNotExist in a peer podSelector is evaluated in the policy's "
    "namespace only, even next to a namespaceSelector (NP-42)"
)
CAUSE_OWN_NODE = "egress to a hostNetwork pod = its node: implementation-defined (NP-91)"


def explain(cluster: Path, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """netpol-doctor's reason for each pair (what admitted or blocked it in each
    direction: the engine's Decision, in-process) and the known cause of a
    disagreement with NCA it points at ("" when none applies)."""
    from netpol_doctor.cni import detect_cni, semantics_for
    from netpol_doctor.engine import Exemption, evaluate
    from netpol_doctor.model import Operator, Protocol
    from netpol_doctor.selectors import Tri
    from netpol_doctor.snapshot import load_snapshot
    from netpol_doctor.targets import endpoint_for_pod

    snap = load_snapshot([cluster])
    sem = semantics_for(detect_cni(snap))
    absence = (Operator.EXISTS, Operator.DOES_NOT_EXIST)
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for s, d in pairs:
        src, dst = snap.pods_by_key[s], snap.pods_by_key[d]
        dec = evaluate(
            snap, endpoint_for_pod(snap, src), endpoint_for_pod(snap, dst), Protocol.TCP, PORT, sem
        )
        parts: list[str] = []
        causes: list[str] = []
        for r in (dec.egress, dec.ingress):
            name = r.direction.name.lower()
            if r.exemption is not None:
                parts.append(f"{name} exempt ({r.exemption.value})")
                # A hostNetwork end's own exemption decides nothing here (kube-system
                # has no policies, so NCA leaves it open too); its node's does.
                if r.exemption is Exemption.OWN_NODE:
                    causes.append(CAUSE_HOST_NETWORK)
            elif not r.isolated:
                parts.append(f"{name} not isolated")
            elif r.admitted_by:
                o = r.admitted_by[0]
                where = o.rule.path if o.rule is not None else ""
                hit = next((p.peer for p in o.peers if p.result is Tri.YES), None)
                kind = "all peers" if hit is None else "selector"
                if hit is not None and hit.ip_block is not None:
                    kind = "ipBlock"
                    other = src if r.direction.name == "INGRESS" else dst
                    causes.append(CAUSE_HOST_NETWORK if other.host_network else CAUSE_IPBLOCK_POD)
                elif (
                    hit is not None
                    and hit.namespace_selector is not None
                    and hit.pod_selector is not None
                    and any(q.operator in absence for q in hit.pod_selector.requirements)
                    and (src if r.direction.name == "INGRESS" else dst).namespace
                    != o.policy.namespace
                ):
                    causes.append(CAUSE_NCA_EXISTS)
                parts.append(f"{name} admitted by {o.policy.ref.key} {where} ({kind})")
            else:
                parts.append(f"{name} isolated, no rule admits")
                if r.direction.name == "EGRESS" and dst.host_network:
                    causes.append(CAUSE_OWN_NODE)
        out[(s, d)] = ("; ".join(parts), "; ".join(dict.fromkeys(causes)))
    return out


def _answer(v: bool | None) -> str:
    return {True: "allowed", False: "denied", None: "unknown"}[v]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--policies", type=int, default=None, help="default: pods/4")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=int, default=200, help="pairs compared in detail")
    ap.add_argument("--timeout", type=float, default=600, help="seconds, per tool run")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="use the outputs of a previous run (bench/.data/...) when newer than the cluster",
    )
    ap.add_argument(
        "--all-causes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="classify every disagreeing pair (up to 200,000), not only the sampled ones",
    )
    args = ap.parse_args(argv)
    policies = args.policies if args.policies is not None else args.pods // 4

    base = cached_cluster(args.pods, policies, args.seed, DATA)
    cluster = base / "cluster"
    nca = ensure_peer()
    nca_txt = base / "nca-connectivity.txt"
    nd_json = base / "matrix-8080.json"

    print(f"cluster: {cluster} ({args.pods} pods, {policies} policies, seed {args.seed})")
    stamp = (base / ".generator").stat().st_mtime
    for label, out, cmd in (
        ("nca --connectivity", nca_txt, nca_command(nca, cluster, nca_txt)),
        ("netpol-doctor matrix", nd_json, matrix_command(netpol_doctor_exe(), cluster)),
    ):
        if args.reuse and out.is_file() and out.stat().st_mtime > stamp:
            print(f"{label}: reusing {out}")
            continue
        run = measure(cmd, args.timeout, None if out is nca_txt else out)
        print(f"{label}: {run.status}, {run.seconds:.1f}s {run.message}")
        if not run.ok:
            out.unlink(missing_ok=True)
            print("no comparison: a tool did not finish")
            return 1

    cmp = compare(cluster, nd_json, nca_txt, args.sample, args.seed)
    print(f"\nall {sum(cmp.totals.values())} ordered pairs of distinct pods, TCP {PORT}:")
    print(f"  {'netpol-doctor':<14} {'NCA':<8} {'pairs':>9}")
    for (a, b), n in sorted(cmp.totals.items(), key=lambda kv: -kv[1]):
        mark = "" if a is b else "   <- disagree"
        print(f"  {_answer(a):<14} {_answer(b):<8} {n:>9}{mark}")
    bad = cmp.disagreements
    print(f"\nsample of {len(cmp.sample)} pairs (seed {args.seed}): {len(bad)} disagreements")
    reasons = explain(cluster, [(s, d) for s, d, _, _ in bad]) if bad else {}
    for s, d, a, b in bad:
        why, cause = reasons[(s, d)]
        print(f"  {s} -> {d}: netpol-doctor {_answer(a)}, NCA {_answer(b)}")
        print(f"      netpol-doctor: {why}")
        print(f"      cause: {cause or 'not classified'}")
    causes = Counter(reasons[(s, d)][1] or "not classified" for s, d, _, _ in bad)
    if causes:
        print("\ndisagreements in the sample, by cause:")
        for cause, n in causes.most_common():
            print(f"  {n:>4}  {cause}")
    if args.all_causes and cmp.disagreeing:
        pairs = cmp.disagreeing
        note = ""
        if len(pairs) > CLASSIFY_MAX:  # ~4,000 pairs a second
            pairs = random.Random(args.seed).sample(pairs, CLASSIFY_MAX)
            note = f" (a uniform sample of {CLASSIFY_MAX} classified)"
        every = explain(cluster, [(s, d) for s, d, _, _ in pairs])
        tally = Counter(
            (_answer(a), _answer(b), every[(s, d)][1] or "not classified") for s, d, a, b in pairs
        )
        print(f"\nall {len(cmp.disagreeing)} disagreements{note}, by cause (netpol-doctor, NCA):")
        for (ours, theirs, cause), n in tally.most_common():
            print(f"  {n:>8}  {ours:<8} {theirs:<8} {cause}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
