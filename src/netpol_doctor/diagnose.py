"""After the verdict: resolve the question, evaluate every (source, destination)
pair, and turn the decisions into findings, root cause first.

Imports `model`, `findings`, `selectors`, `snapshot`, `engine`, `targets`, `cni`,
`explain`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .cni import CniInfo, detect_cni, semantics_for
from .engine import (
    Decision,
    DirectionResult,
    PeerMiss,
    RuleOutcome,
    Verdict,
    evaluate,
)
from .errors import QuestionError
from .explain import direction_summary, peer_outcome, port_outcome, rule_name
from .findings import Finding, Severity
from .model import Direction, NetworkPolicy, ObjectRef, Protocol
from .selectors import Tri
from .snapshot import Snapshot
from .targets import Member, Target, resolve

__all__ = ["Diagnosis", "PairResult", "diagnose", "nearest_misses"]


@dataclass(frozen=True, slots=True)
class PairResult:
    source: Member
    destination: Member
    decision: Decision | None  # None: the pair cannot connect at all (see problem)
    problem: str | None = None

    @property
    def verdict(self) -> Verdict | None:
        return self.decision.verdict if self.decision else None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    verdict: Verdict
    source: Target
    destination: Target
    port: int | str
    protocol: Protocol
    pairs: tuple[PairResult, ...]
    findings: tuple[Finding, ...]
    cni: CniInfo


def aggregate(verdicts: Iterable[Verdict]) -> Verdict:
    """One answer for many pairs: a Service is reachable only if every backend is."""
    vs = list(verdicts)
    if not vs:
        return Verdict.UNKNOWN
    if Verdict.DENIED in vs:
        return Verdict.DENIED
    if Verdict.UNKNOWN in vs:
        return Verdict.UNKNOWN
    return Verdict.ALLOWED


def diagnose(
    snapshot: Snapshot,
    source: str,
    destination: str,
    port: int | str,
    protocol: Protocol = Protocol.TCP,
    *,
    namespace: str = "default",
    cni: CniInfo | None = None,
) -> Diagnosis:
    cni = cni or detect_cni(snapshot)
    sem = semantics_for(cni)
    src = resolve(snapshot, source, namespace=namespace)
    dst = resolve(snapshot, destination, namespace=namespace, port=port, protocol=protocol)
    if not src.members:
        raise QuestionError(f"{source} resolves to no pod")
    pairs: list[PairResult] = []
    for s in src.members:
        for d in dst.members:
            if d.port is None:
                pairs.append(PairResult(s, d, None, d.problem))
                continue
            decision = evaluate(snapshot, s.endpoint, d.endpoint, protocol, d.port, sem)
            pairs.append(PairResult(s, d, decision))
    verdict = aggregate(p.verdict for p in pairs if p.verdict is not None)
    findings = _findings(snapshot, src, dst, pairs, cni)
    return Diagnosis(verdict, src, dst, port, protocol, tuple(pairs), findings, cni)


# --- findings ----------------------------------------------------------------------


def _findings(
    snapshot: Snapshot, src: Target, dst: Target, pairs: list[PairResult], cni: CniInfo
) -> tuple[Finding, ...]:
    out: list[Finding] = []
    for pair in pairs:
        if pair.decision is None:
            out.append(
                Finding(
                    "port-unresolved",
                    Severity.ERROR,
                    pair.problem or "the destination has no such port",
                    _refs(pair.destination),
                )
            )
            continue
        out += _pair_findings(pair.decision)
    if dst.kind == "service" and not dst.members:
        svc = dst.service
        out.append(
            Finding(
                "service-no-endpoints",
                Severity.ERROR,
                f"Service {dst.label} selects no pod: connections are refused or time out "
                "whatever the policies say",
                (svc.ref,) if svc else (),
            )
        )
    out += _input_findings(snapshot, pairs)
    seen: set[tuple[str, str]] = set()
    unique = []
    for f in out:
        if (f.id, f.message) not in seen:
            seen.add((f.id, f.message))
            unique.append(f)
    unique.sort(key=lambda f: (f.severity.rank, _ORDER.get(f.id, 50)))
    return tuple(unique)


#: Root cause first: what decides the verdict, then what qualifies it, then context.
_ORDER = {
    "egress-not-allowed": 0,
    "ingress-not-allowed": 0,
    "port-unresolved": 1,
    "service-no-endpoints": 1,
    "namespace-labels-unknown": 2,
    "ipblock-pod-ip": 3,
    "own-node-egress": 3,
    "extended-policies-present": 4,
    "reads-forbidden": 4,
    "policy-invalid": 5,
    "default-deny-ingress": 10,
    "default-deny-egress": 10,
    "host-network": 11,
    "self-traffic": 11,
    "template-pod": 12,
    "not-isolated": 20,
}


def _refs(m: Member) -> tuple[ObjectRef, ...]:
    return (m.endpoint.pod.ref,) if m.endpoint.pod else ()


def _pair_findings(d: Decision) -> list[Finding]:
    out: list[Finding] = []
    for side, other in ((d.egress, d.destination.label), (d.ingress, d.source.label)):
        out += _direction_findings(d, side, other)
    for ep in (d.source, d.destination):
        if ep.pod is not None and ep.pod.host_network:
            out.append(
                Finding(
                    "host-network",
                    Severity.INFO,
                    f"{ep.pod.key} uses hostNetwork: NetworkPolicy does not select it as a "
                    "target or a peer; its traffic is its node's, matched only by ipBlock",
                    (ep.pod.ref,),
                )
            )
        if ep.pod is not None and ep.pod.template_of is not None:
            out.append(
                Finding(
                    "template-pod",
                    Severity.INFO,
                    f"{ep.pod.display}: no live Pod of this workload is in the input; the "
                    "answer uses its pod template (labels and ports), with no IP",
                    (ep.pod.template_of,),
                )
            )
    if d.self_traffic:
        out.append(
            Finding(
                "self-traffic",
                Severity.INFO,
                "a pod cannot block traffic to itself; some plugins still filter it when it "
                "goes through a Service (implementation-defined)",
            )
        )
    if d.extended:
        names = ", ".join(str(r) for r in d.extended[:5])
        more = f" and {len(d.extended) - 5} more" if len(d.extended) > 5 else ""
        out.append(
            Finding(
                "extended-policies-present",
                Severity.WARNING,
                f"{names}{more} can also decide this traffic and are not evaluated yet; "
                f"standard NetworkPolicy alone says {d.network_policy_verdict.value}",
                d.extended,
            )
        )
    return out


def _direction_findings(d: Decision, side: DirectionResult, other: str) -> list[Finding]:
    out: list[Finding] = []
    word = side.direction.value.lower()
    subject = side.subject
    if side.exemption is not None or subject.pod is None:
        return out
    pod = subject.pod
    if side.unreadable:
        out.append(
            Finding(
                "reads-forbidden",
                Severity.WARNING,
                f"the NetworkPolicies of namespace {pod.namespace} could not be read; "
                f"{word} of {pod.key} is unknown",
                (pod.ref,),
            )
        )
        return out
    if not side.isolated:
        out.append(
            Finding(
                "not-isolated",
                Severity.INFO,
                f"{word}: no NetworkPolicy in {pod.namespace} selects {pod.key} for {word}; "
                f"policy does not block it there",
                (pod.ref,),
            )
        )
        return out
    for p in side.isolated_by:
        if _is_default_deny(p, side.direction):
            out.append(
                Finding(
                    f"default-deny-{word}",
                    Severity.INFO,
                    f"NetworkPolicy {p.ref.key} selects every pod in {p.namespace} for {word} "
                    f"and admits nothing itself: only other policies' rules can open {word}",
                    (p.ref,),
                )
            )
    if side.result is Tri.NO:
        misses = nearest_misses(side)
        lines = []
        for o in misses:
            lines.append(rule_name(o.policy, o.rule, side.direction))
            lines += [
                "  " + peer_outcome(p, o.policy, side.direction)
                for p in o.peers
                if p.result is not Tri.YES
            ]
            lines += [
                "  " + port_outcome(p, d.protocol, d.port)
                for p in o.ports
                if p.match.result is not Tri.YES and o.ports_result is not Tri.YES
            ]
        summary = direction_summary(side, other)
        msg = summary + ("\nnearest misses:\n" + "\n".join(lines) if lines else "")
        out.append(
            Finding(
                f"{word}-not-allowed",
                Severity.ERROR,
                msg,
                (pod.ref, *(p.ref for p in side.isolated_by)),
            )
        )
    if side.own_node_egress:
        out.append(
            Finding(
                "own-node-egress",
                Severity.WARNING,
                f"{pod.key} is egress-isolated and {other} is its own node: the network "
                "plugin decides (NetworkPolicy guarantees only traffic from the own node)",
                (pod.ref,),
            )
        )
    for o in side.outcomes:
        for po in o.peers:
            if PeerMiss.NAMESPACE_LABELS_UNKNOWN in po.misses and po.result is Tri.UNKNOWN:
                out.append(
                    Finding(
                        "namespace-labels-unknown",
                        Severity.WARNING,
                        f"{rule_name(o.policy, o.rule, side.direction)} selects namespaces by "
                        f"label, and namespace {po.namespace} is not in the input: only its "
                        "kubernetes.io/metadata.name label is known, so this rule may or may "
                        "not admit the traffic",
                        (o.policy.ref,),
                    )
                )
            if {PeerMiss.POD_IP_IMPL_DEFINED, PeerMiss.NO_POD_IP} & set(po.misses):
                out.append(
                    Finding(
                        "ipblock-pod-ip",
                        Severity.WARNING,
                        f"{rule_name(o.policy, o.rule, side.direction)}: only an ipBlock could "
                        "match the pod, and whether ipBlock matches pod IPs depends on the "
                        "network plugin (Calico: yes; Cilium: no); use pod and namespace "
                        "selectors for pods",
                        (o.policy.ref,),
                    )
                )
    return out


def _is_default_deny(p: NetworkPolicy, direction: Direction) -> bool:
    return p.pod_selector.is_empty and p.controls(direction) and not p.rules(direction)


def _distance(o: RuleOutcome) -> int:
    """How much would have to change for this rule to admit the flow."""
    if o.rule is None:
        return 100
    cost = 0
    if o.peers_result is not Tri.YES:
        cost += min(
            (
                sum(
                    max(1, len(m.misses))
                    for m in (po.pod_match, po.namespace_match)
                    if m is not None and m.result is not Tri.YES
                )
                + (
                    2
                    * sum(
                        1
                        for x in po.misses
                        if x in (PeerMiss.OTHER_NAMESPACE, PeerMiss.NOT_A_POD, PeerMiss.IP_BLOCK)
                    )
                )
                for po in o.peers
            ),
            default=1,
        )
    if o.ports_result is not Tri.YES:
        cost += 1
    return cost


def nearest_misses(side: DirectionResult, limit: int = 3) -> list[RuleOutcome]:
    """Rules that came closest to admitting the flow, closest first."""
    candidates = [o for o in side.outcomes if o.rule is not None and o.result is not Tri.YES]
    candidates.sort(key=lambda o: (_distance(o), o.policy.ref.key, o.rule.index if o.rule else 0))
    return candidates[:limit]


def _input_findings(snapshot: Snapshot, pairs: list[PairResult]) -> list[Finding]:
    """Input problems that touch the question: rejected policies in the namespaces involved."""
    namespaces = set()
    for p in pairs:
        for ep in (p.source.endpoint, p.destination.endpoint):
            if ep.namespace:
                namespaces.add(ep.namespace)
    return [
        f
        for f in snapshot.problems
        if f.id == "policy-invalid" and f.objects and f.objects[0].namespace in namespaces
    ]
