"""What the data plane did, explained: flow-log records grouped by (source workload,
destination workload, protocol, port), each group answered by `diagnose` (memoised),
and the disagreements between the log and the verdict raised as findings.

Streaming: records are folded into groups as they are read, so memory grows with the
number of groups, never with the size of the log. Imports `analysis.flowmap`,
`inputs.flowlogs`, `diagnose`, `cni`, `findings`, `model`, `snapshot`, `engine`,
`shell`; never renders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..cni import CniInfo
from ..diagnose import Diagnosis, diagnose
from ..engine import Verdict
from ..errors import NetpolDoctorError
from ..findings import Finding, Severity
from ..inputs.flowlogs import FlowRecord, Observed
from ..model import ObjectRef, Protocol
from ..shell import command
from ..snapshot import Snapshot
from .flowmap import Resolved, Resolver

__all__ = ["FlowGroup", "FlowReport", "FlowWindow", "GroupFolder", "Resolved", "analyse"]

DROP_ID = "observed-drop-policy-allows"
ALLOW_ID = "observed-allow-policy-denies"
MISSING_ID = "observed-policy-not-in-input"

_PROTOCOLS = {p.value: p for p in Protocol}


@dataclass(frozen=True, slots=True)
class FlowWindow:
    """Which records count: `since` is absolute (epoch seconds); `last` is a duration
    counted back from the newest record of the input (both None: every record)."""

    since: float | None = None
    last: float | None = None


@dataclass(frozen=True, slots=True)
class FlowGroup:
    source: Resolved
    destination: Resolved
    protocol: str
    port: int | None
    counts: tuple[tuple[Observed, int], ...]
    first: float | None
    last: float | None
    nodes: tuple[str, ...]
    reasons: tuple[tuple[str, int], ...]
    policies: tuple[str, ...]
    example: str  # file:line of the first record
    verdict: Verdict
    diagnosis: Diagnosis | None
    #: why the verdict is unknown without a diagnosis (an address the input lacks)
    unknown: str | None
    #: the log-vs-verdict findings, headline first
    findings: tuple[Finding, ...]
    command: str | None  # the diagnose command that gives the whole explanation

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)

    def count(self, observed: Observed) -> int:
        return dict(self.counts).get(observed, 0)

    @property
    def mismatch(self) -> bool:
        return any(f.id in (DROP_ID, ALLOW_ID) for f in self.findings)


@dataclass(frozen=True, slots=True)
class FlowReport:
    groups: tuple[FlowGroup, ...]  # mismatches first, then by records
    shown: int  # groups before --top cut
    records: int  # records counted (after --since and --namespace)
    filtered: int  # records left out by --since / --namespace / no time
    overflow: int  # records of groups past MAX_GROUPS: counted, not grouped
    newest: float | None
    cutoff: float | None


# --- folding records into groups -----------------------------------------------


@dataclass
class _Acc:
    source: Resolved
    destination: Resolved
    example: str
    #: (observed, whole second) -> records, when the window is relative
    buckets: Counter[tuple[Observed, int]] = field(default_factory=Counter)
    counts: Counter[Observed] = field(default_factory=Counter)
    first: float | None = None
    last: float | None = None
    nodes: set[str] = field(default_factory=set)
    reasons: Counter[str] = field(default_factory=Counter)
    #: reason/policy -> the last time it was seen (for a relative window)
    seen: dict[str, float] = field(default_factory=dict)
    policies: dict[str, None] = field(default_factory=dict)


_MAX_NODES = 10
#: groups kept, and groups diagnosed (the largest, drops first); see docs/flows.md
MAX_GROUPS = 100_000
MAX_DIAGNOSED = 5_000

GroupKey = tuple[str, str, str, int | None]


class GroupFolder:
    """Folds records into groups one at a time."""

    def __init__(
        self,
        snapshot: Snapshot,
        window: FlowWindow = FlowWindow(),
        namespaces: Iterable[str] = (),
    ) -> None:
        self.resolve = Resolver(snapshot)
        self.window = window
        self.namespaces = frozenset(namespaces)
        self.groups: dict[GroupKey, _Acc] = {}
        self.records = 0
        self.filtered = 0
        #: records of groups past `max_groups`, counted only
        self.overflow = 0
        self.max_groups = MAX_GROUPS
        self.newest: float | None = None

    def add(self, record: FlowRecord, name: str, line: int) -> None:
        when = record.time
        windowed = self.window.since is not None or self.window.last is not None
        if windowed and (
            when is None or (self.window.since is not None and when < self.window.since)
        ):
            self.filtered += record.count
            return
        src = self.resolve(record.source, False)
        dst = self.resolve(record.destination, True)
        if self.namespaces and not ({src.namespace, dst.namespace} & self.namespaces):
            self.filtered += record.count
            return
        if when is not None and (self.newest is None or when > self.newest):
            self.newest = when
        key = (src.label, dst.label, record.protocol, record.port)
        acc = self.groups.get(key)
        if acc is None:
            if len(self.groups) >= self.max_groups:
                # A scan from the internet makes a group per address: past the cap,
                # records are counted, not kept (memory stays bounded).
                self.overflow += record.count
                return
            acc = self.groups[key] = _Acc(src, dst, f"{name}:{line}")
        n = record.count
        self.records += n
        acc.counts[record.observed] += n
        if when is not None:
            if self.window.last is not None:
                acc.buckets[(record.observed, int(when))] += n
            if acc.first is None or when < acc.first:
                acc.first = when
            if acc.last is None or when > acc.last:
                acc.last = when
        if record.node and len(acc.nodes) < _MAX_NODES:
            acc.nodes.add(record.node)
        if record.observed is not Observed.ALLOWED and record.reason:
            acc.reasons[record.reason] += n
            if when is not None:
                acc.seen[record.reason] = max(when, acc.seen.get(record.reason, when))
        for p in record.policies:
            acc.policies[p] = None
            if when is not None:
                acc.seen[p] = max(when, acc.seen.get(p, when))


def _cut(acc: _Acc, cutoff: float) -> _Acc | None:
    """The group as if only records at or after `cutoff` had been read."""
    counts: Counter[Observed] = Counter()
    times = []
    for (observed, second), n in acc.buckets.items():
        if second >= int(cutoff):
            counts[observed] += n
            times.append(second)
    if not counts:
        return None
    keep = {k for k, t in acc.seen.items() if t >= cutoff}
    return _Acc(
        acc.source,
        acc.destination,
        acc.example,
        counts=counts,
        first=max(float(min(times)), acc.first or cutoff),
        last=acc.last,
        nodes=acc.nodes,
        reasons=Counter({r: n for r, n in acc.reasons.items() if r in keep}),
        policies={p: None for p in acc.policies if p in keep},
    )


# --- answering each group ----------------------------------------------------------


def analyse(
    folder: GroupFolder,
    cni: CniInfo | None = None,
    top: int | None = None,
) -> FlowReport:
    """Diagnose every group (one `diagnose` per distinct question) and rank them."""
    cutoff = None
    accs = list(folder.groups.items())
    records = folder.records
    if folder.window.last is not None and folder.newest is not None:
        cutoff = folder.newest - folder.window.last
        cut = [(k, _cut(a, cutoff)) for k, a in accs]
        accs = [(k, a) for k, a in cut if a is not None]
        records = sum(sum(a.counts.values()) for _, a in accs)
    elif folder.window.since is not None:
        cutoff = folder.window.since
    memo: dict[tuple[str, str, int | None, str], tuple[Diagnosis | None, str | None]] = {}
    # Diagnose the groups that matter most first: with drops, then the largest.
    accs.sort(key=lambda ka: _priority(ka[1]))
    groups = [
        _answer(folder.resolve.snapshot, key, acc, cni, memo if i < MAX_DIAGNOSED else None)
        for i, (key, acc) in enumerate(accs)
    ]
    groups.sort(key=_rank)
    shown = len(groups)
    if top is not None:
        groups = groups[:top]
    return FlowReport(
        tuple(groups),
        shown,
        records,
        folder.filtered + folder.records - records,
        folder.overflow,
        folder.newest,
        cutoff,
    )


def _priority(acc: _Acc) -> tuple[int, int]:
    dropped = acc.counts[Observed.DROPPED] + acc.counts[Observed.AUDIT]
    return (0 if dropped else 1, -sum(acc.counts.values()))


def _rank(g: FlowGroup) -> tuple[int, int, int, str, str, str, int]:
    dropped = g.count(Observed.DROPPED) + g.count(Observed.AUDIT)
    return (
        0 if g.mismatch else 1,
        0 if dropped else 1,
        -g.total,
        g.source.label,
        g.destination.label,
        g.protocol,
        g.port or 0,
    )


def _question(
    snapshot: Snapshot,
    src: Resolved,
    dst: Resolved,
    protocol: str,
    port: int | None,
    cni: CniInfo | None,
    memo: dict[tuple[str, str, int | None, str], tuple[Diagnosis | None, str | None]] | None,
) -> tuple[Diagnosis | None, str | None]:
    if memo is None:
        return None, (
            f"not diagnosed: only the {MAX_DIAGNOSED} largest groups are (narrow the input "
            "with --namespace or --since)"
        )
    if src.spec is None or dst.spec is None:
        why = src.why if src.spec is None else dst.why
        return None, why or "an end of the flow is not in the input"
    proto = _PROTOCOLS.get(protocol)
    if proto is None:
        return None, f"protocol {protocol or '(none)'} is not one NetworkPolicy decides"
    if port is None and proto is not Protocol.ICMP:
        return None, "the record has no destination port"
    key = (src.spec, dst.spec, port, protocol)
    if key not in memo:
        try:
            memo[key] = (diagnose(snapshot, src.spec, dst.spec, port, proto, cni=cni), None)
        except NetpolDoctorError as exc:
            memo[key] = (None, str(exc))
    return memo[key]


def _answer(
    snapshot: Snapshot,
    key: GroupKey,
    acc: _Acc,
    cni: CniInfo | None,
    memo: dict[tuple[str, str, int | None, str], tuple[Diagnosis | None, str | None]] | None,
) -> FlowGroup:
    _, _, protocol, port = key
    diag, unknown = _question(snapshot, acc.source, acc.destination, protocol, port, cni, memo)
    verdict = diag.verdict if diag is not None else Verdict.UNKNOWN
    counts = tuple(sorted(acc.counts.items(), key=lambda kv: kv[0].value))
    group = FlowGroup(
        source=acc.source,
        destination=acc.destination,
        protocol=protocol,
        port=port,
        counts=counts,
        first=acc.first,
        last=acc.last,
        nodes=tuple(sorted(acc.nodes)),
        reasons=tuple(sorted(acc.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        policies=tuple(acc.policies),
        example=acc.example,
        verdict=verdict,
        diagnosis=diag,
        unknown=unknown,
        findings=(),
        command=_command(acc.source, acc.destination, protocol, port),
    )
    findings = [*_mismatch(group), *_missing_policies(snapshot, group)]
    return replace(group, findings=tuple(findings))


def _command(src: Resolved, dst: Resolved, protocol: str, port: int | None) -> str | None:
    if src.spec is None or dst.spec is None:
        return None
    words = ["netpol-doctor", "diagnose", src.spec, dst.spec]
    if port is not None:
        words += ["--port", str(port)]
    if protocol != "TCP":
        words += ["--protocol", protocol]
    return command(*words)


def _refs(g: FlowGroup) -> tuple[ObjectRef, ...]:
    d = g.diagnosis
    if d is None:
        return ()
    return tuple(dict.fromkeys(r for f in d.findings if d.decides(f) for r in f.objects))


def _mismatch(g: FlowGroup) -> list[Finding]:
    out: list[Finding] = []
    span = _span(g)
    what = f"{g.source.label} -> {g.destination.label} {g.protocol}" + (
        f" {g.port}" if g.port is not None else ""
    )
    dropped = g.count(Observed.DROPPED)
    if dropped and g.verdict is Verdict.ALLOWED:
        reasons = ", ".join(f"{r} x{n}" for r, n in g.reasons[:3])
        named = ", ".join(g.policies[:3])
        parts = [
            f"the log shows {what} dropped {dropped} time(s){span}, but the policies in "
            "the input allow it"
        ]
        if reasons:
            parts.append(f"drop reason in the log: {reasons}")
        if named:
            parts.append(f"the log names {named} as deciding")
        parts.append(
            "so something the input does not show decided: a policy added since the "
            "snapshot, an agent that has not programmed the current policy (or is "
            "stale), another policy family, a service mesh, a host firewall or a cloud "
            "security group"
            + (
                "; the reason is not a policy drop"
                if g.reasons and not any(_policy_reason(r) for r, _ in g.reasons)
                else ""
            )
        )
        out.append(Finding(DROP_ID, Severity.ERROR, "; ".join(parts), _refs(g)))
    passed = g.count(Observed.ALLOWED) + g.count(Observed.AUDIT)
    if passed and g.verdict is Verdict.DENIED:
        audit = g.count(Observed.AUDIT)
        msg = (
            f"the log shows {what} let through {passed} time(s){span}, but the policies in "
            "the input deny it: they are not enforced for this traffic (a plugin that "
            "enforces no policy or runs in audit mode, a policy not yet programmed or "
            "created after these records, or another layer allowing it first)"
        )
        if audit:
            msg += (
                f"; {audit} record(s) are AUDIT: Cilium's policy audit mode let through "
                "traffic its policy would drop"
            )
        out.append(Finding(ALLOW_ID, Severity.ERROR, msg, _refs(g)))
    return out


def _policy_reason(reason: str) -> bool:
    return reason.startswith(("POLICY_", "AUTH_REQUIRED", "rule ", "tier ", "the default drop"))


def _span(g: FlowGroup) -> str:
    if g.first is None or g.last is None:
        return ""

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    nodes = f" on {', '.join(g.nodes)}" if g.nodes else ""
    return f" between {iso(g.first)} and {iso(g.last)}{nodes}"


def _missing_policies(snapshot: Snapshot, g: FlowGroup) -> list[Finding]:
    known = {(r.namespace, r.name) for r in (p.ref for p in snapshot.policies)}
    known |= {(r.namespace, r.name) for r in snapshot.rejected_policies}
    known |= {(e.ref.namespace, e.ref.name) for e in snapshot.extended}
    out = []
    for p in g.policies:
        kind, _, name = p.partition(" ")
        if kind == "Calico" or not name:
            continue  # Calico's policy strings name tiers and rules, not objects
        ns, _, bare = name.rpartition("/")
        if (ns or None, bare) in known:
            continue
        out.append(
            Finding(
                MISSING_ID,
                Severity.WARNING,
                f"the log names {kind} {name} as deciding {g.source.label} -> "
                f"{g.destination.label}, and the input has no such object: the snapshot "
                "is older than the log or lacks that kind or namespace",
                (ObjectRef(kind, ns or None, bare),),
            )
        )
    return out
