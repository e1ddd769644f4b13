"""After the verdict: resolve the question, evaluate every (source, destination) pair,
and walk the whole expert flow as findings, root cause first, each with its fix.

Imports `model`, `findings`, `selectors`, `snapshot`, `engine`, `targets`, `cni`,
`explain`, `fixes`, `nearmiss`, `context`, `shell`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import Enum

from . import context
from .analysis import dataplane
from .analysis.dataplane import SecondaryAddress
from .analysis.rootcause import root_causes
from .analysis.verdicts import aggregate, tally
from .analysis.words import plural
from .cni import CniInfo, detect_cni, semantics_for
from .engine import (
    Decision,
    DirectionResult,
    Endpoint,
    EndpointKind,
    PeerMiss,
    RuleOutcome,
    Semantics,
    Verdict,
)
from .errors import QuestionError
from .explain import direction_summary, peer_outcome, port_outcome_lines, rule_name
from .extended import Action
from .findings import Finding, Severity
from .fixes import allow_flow_policy
from .layers import (
    Layer,
    deciding_step,
    evaluate_flow,
    family_findings,
    layer_of,
    side_verdict,
)
from .model import Direction, NetworkPolicy, ObjectRef, Pod, Protocol, Service
from .nearmiss import breadth_warnings, near_misses
from .parse import parse_ip
from .policy import aws_limits
from .selectors import Tri
from .shell import command, comment
from .snapshot import Snapshot
from .targets import Member, Target, endpoint_for_pod, resolve

__all__ = [
    "Diagnosis",
    "PairResult",
    "Symptom",
    "aggregate",
    "diagnose",
    "nearest_misses",
    "pairs_rule",
]

#: Destinations that name a check rather than a workload.
DNS, APISERVER = "dns", "apiserver"


class Symptom(Enum):
    TIMEOUT = "timeout"
    REFUSED = "refused"
    NXDOMAIN = "nxdomain"


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
    protocol: Protocol | None  # None: several (the DNS check asks UDP and TCP)
    pairs: tuple[PairResult, ...]
    findings: tuple[Finding, ...]
    cni: CniInfo
    #: commands that confirm the diagnosis from a pod that should succeed
    verify: tuple[str, ...] = ()
    symptom: Symptom | None = None
    #: What the policies alone say, when the data plane does something else (a plugin
    #: that enforces no NetworkPolicy, a secondary interface, an agent's limit); None
    #: when `verdict` is the policies' answer.
    policy_verdict: Verdict | None = None
    #: the finding id that overrides the policies' answer (None: `cni-no-enforcement`)
    overridden_by: str | None = None
    #: the asked address is a pod's Multus secondary interface (the pairs then read the
    #: owner's primary interface, which is what `policy_verdict` is about)
    secondary: SecondaryAddress | None = None
    #: both ends are on the secondary network (else the packet crosses a primary one)
    shared_network: bool = False
    #: root causes that are not a missed rule (analysis.rootcause): first, and deciding
    causes: tuple[Finding, ...] = ()

    def decides(self, f: Finding) -> bool:
        """Is this finding part of what decides the verdict (vs. something to check too)?"""
        if self.policy_verdict is not None:
            # the rule-level findings describe what the policies would do
            if self.overridden_by is not None:
                return f.id == self.overridden_by and f.severity is not Severity.INFO
            return f.id in _DATA_PLANE
        if f in self.causes:
            return True
        if self.verdict is Verdict.DENIED and f.severity is Severity.INFO:
            return False  # an allow that holds on one side never blocks
        if f.id in _DECISIVE:
            return True
        return (self.destination.kind == "dns" and f.id == "dns-egress-missing") or (
            f.id == "apiserver-egress-missing" and f.severity is Severity.ERROR
        )

    @property
    def protocol_label(self) -> str:
        if self.protocol is not None:
            return self.protocol.value
        return "+".join(
            sorted({p.decision.protocol.value for p in self.pairs if p.decision}, reverse=True)
        )


def diagnose(
    snapshot: Snapshot,
    source: str,
    destination: str,
    port: int | str | None = None,
    protocol: Protocol = Protocol.TCP,
    *,
    namespace: str = "default",
    cni: CniInfo | None = None,
    symptom: Symptom | None = None,
) -> Diagnosis:
    cni = cni or detect_cni(snapshot)
    sem = semantics_for(cni)
    src = resolve(snapshot, source, namespace=namespace)
    if not src.members:
        raise QuestionError(f"{source} resolves to no pod")
    asked_apiserver = destination == APISERVER
    if destination == DNS:
        return _diagnose_dns(snapshot, src, cni, sem, symptom)
    if asked_apiserver:
        if "default/kubernetes" not in snapshot.services:
            raise QuestionError("the input has no Service default/kubernetes (the API server)")
        destination, port, protocol = "svc/default/kubernetes", 443, Protocol.TCP
    if port is None and protocol is Protocol.ICMP:
        port = 0  # ping has no port; rules with ports never match it
    if port is None:
        raise QuestionError("--port is required (except for the `dns` and `apiserver` checks)")
    secondary, role = _secondary(snapshot, source, destination)
    dst = resolve(snapshot, destination, namespace=namespace, port=port, protocol=protocol)
    shared = secondary is not None and _shares_network(secondary, dst if role == "source" else src)
    if secondary is not None:
        # Between two ends of the secondary network NetworkPolicy reads nothing: the
        # pairs read the owner's primary interface instead. Otherwise the packet crosses
        # the other end's primary interface as an outside address: the pairs read that.
        owner = resolve(
            snapshot, secondary.pod.key, port=None if role == "source" else port, protocol=protocol
        )
        asked = src if role == "source" else dst
        relabel = Target(
            asked.spec, "ip", secondary.label, owner.members if shared else asked.members
        )
        if role == "source":
            src = relabel
        else:
            dst = relabel
    pairs: list[PairResult] = []
    for s in src.members:
        for d in dst.members:
            if d.port is None:
                pairs.append(PairResult(s, d, None, d.problem))
                continue
            decision = evaluate_flow(snapshot, s.endpoint, d.endpoint, protocol, d.port, sem)
            pairs.append(PairResult(s, d, decision))
    verdicts = [p.verdict for p in pairs if p.verdict is not None]
    snat = _snat_pairs(snapshot, src, dst, protocol, sem)
    if snat is not None:
        # NP-95/NP-53: the pod sees a node IP (kube-proxy masquerades), or, on some
        # plugins, the client's: each node path is one more pair, combined by the same
        # rule; with no Node in the input that reading cannot be checked.
        verdicts += [p.verdict for p in snat if p.verdict is not None] or [Verdict.UNKNOWN]
        pairs = [*snat, *pairs]
    verdict = aggregate(verdicts)
    findings = _findings(snapshot, src, dst, pairs, cni, sem, asked_apiserver, symptom)
    direct = [p.decision for p in pairs[len(snat or ()) :] if p.decision is not None]
    seen_as_node = [p.decision for p in snat or () if p.decision is not None]
    causes, rest = root_causes(snapshot, direct, seen_as_node, findings)
    diag = Diagnosis(
        verdict,
        src,
        dst,
        port,
        protocol,
        tuple(pairs),
        causes + rest,
        cni,
        (),
        symptom,
        causes=causes,
    )
    if secondary is not None:
        return _on_secondary(diag, secondary, role, shared)
    if not cni.enforces_policy:
        return _unenforced(diag)
    limited = _aws_limited(diag)
    if limited is not None:
        return limited
    return replace(diag, verify=_verify(snapshot, pairs, verdict, sem))


def _secondary(
    snapshot: Snapshot, source: str, destination: str
) -> tuple[SecondaryAddress | None, str]:
    """Is `ip/ADDR` (destination first) a pod's Multus secondary address?"""
    for spec, role in ((destination, "destination"), (source, "source")):
        head, _, rest = spec.partition("/")
        ip = parse_ip(rest) if head == "ip" and rest else None
        found = dataplane.secondary_address(snapshot, ip) if ip is not None else None
        if found is not None:
            return found, role
    return None, ""


def _overridden(
    diag: Diagnosis, verdict: Verdict, by: str, first: list[Finding], policy: Verdict | None = None
) -> Diagnosis:
    """The data plane decides, not the policies: `first` leads, and no fix that edits
    a policy is offered for what the policies do not cause."""
    rest = tuple(replace(f, fix=None) for f in diag.findings if f.id != by)
    return replace(
        diag,
        verdict=verdict,
        policy_verdict=policy or diag.verdict,
        overridden_by=by,
        findings=(*first, *rest),
        verify=(),
    )


def _shares_network(secondary: SecondaryAddress, other: Target) -> bool:
    """Is every pod at the other end attached to the asked address's network?"""
    pods = [m.endpoint.pod for m in other.members if m.endpoint.kind is EndpointKind.POD]
    net = secondary.attachment.network
    return bool(pods) and all(
        p is not None and dataplane.on_network(p, net) is not None for p in pods
    )


def _on_secondary(
    diag: Diagnosis, secondary: SecondaryAddress, role: str, shared: bool
) -> Diagnosis:
    """NP-98: traffic between secondary interfaces bypasses NetworkPolicy (seed 000:
    "RDMA/NCCL traffic on secondary interfaces bypasses CNI entirely"). From an end
    without that network the packet crosses its primary interface, where the policies
    do apply: a denial there is certain; anything else depends on routing."""
    others = diag.source if role == "destination" else diag.destination
    pods = [m.endpoint.pod for m in others.members if m.endpoint.pod is not None]
    net = secondary.attachment.network
    lacking = [p for p in pods if dataplane.on_network(p, net) is None]
    other = lacking[0] if lacking else (pods[0] if pods else None)
    port = diag.port if isinstance(diag.port, int) else 0
    finding = dataplane.secondary_address_finding(
        secondary, other, role, port, diag.protocol or Protocol.TCP
    )
    if shared:
        verdict = Verdict.ALLOWED
    elif diag.verdict is Verdict.DENIED:
        # the policies drop it on the primary interface before routing matters
        return replace(diag, findings=(*diag.findings, finding), secondary=secondary)
    else:
        verdict = Verdict.UNKNOWN
    return replace(
        _overridden(diag, verdict, "secondary-network", [finding]),
        secondary=secondary,
        shared_network=shared,
    )


def _aws_limited(diag: Diagnosis) -> Diagnosis | None:
    """CNI-10: an `allowed` resting on port entries the AWS agent may drop is unknown;
    the policies' own answer stays in `policy_verdict`."""
    decisions = [p.decision for p in diag.pairs if p.decision is not None]
    if diag.verdict is not Verdict.UNKNOWN or not any(aws_limits.overflows(d) for d in decisions):
        return None
    unlimited = aggregate(
        d.network_policy_verdict if aws_limits.overflows(d) and not d.extended else d.verdict
        for d in decisions
    )
    if unlimited is diag.verdict:
        return None
    first = [f for f in diag.findings if f.id == "aws-vpc-cni-port-limit" and f.field]
    flow = [f for f in first if f.message.startswith("the AWS VPC CNI policy agent keeps")]
    return _overridden(diag, Verdict.UNKNOWN, "aws-vpc-cni-port-limit", flow, unlimited)


def pairs_rule(diag: Diagnosis) -> str:
    """How the pairs' answers made the one answer, in words (analysis.verdicts)."""
    counts = tally(p.verdict for p in diag.pairs if p.verdict is not None)
    missing = sum(1 for p in diag.pairs if p.verdict is None)
    parts = [f"{n} {v.value}" for v, n in counts.items()]
    if missing:
        parts.append(f"{missing} without the port")
    if len(counts) <= 1 and not missing:
        every = "both" if len(diag.pairs) == 2 else f"all {len(diag.pairs)}"
        return f"{every} {diag.verdict.value}"
    why = {
        Verdict.DENIED: "any denied pair makes the answer denied",
        Verdict.UNKNOWN: "no pair is denied, but an unknown one keeps the answer unknown",
        Verdict.ALLOWED: "every pair is allowed",
    }[diag.verdict]
    return f"{', '.join(parts)}: {why}"


def policy_decides(f: Finding) -> bool:
    """Would this finding decide the verdict if the policies were enforced?"""
    return f.id in _DECISIVE and f.id not in _DATA_PLANE


def _unenforced(diag: Diagnosis) -> Diagnosis:
    """On a plugin that enforces no NetworkPolicy (standalone Flannel), traffic flows
    whatever the policies say: that is the verdict, and the plugin is the deciding
    finding. What the policies would do is kept (`policy_verdict`), and no fix that
    edits a policy is offered as the cure for a block the policies do not cause."""
    findings = tuple(f if f.id in _DATA_PLANE else replace(f, fix=None) for f in diag.findings)
    return replace(
        diag, verdict=Verdict.ALLOWED, policy_verdict=diag.verdict, findings=findings, verify=()
    )


_SNAT_NODES = 3


def _snat_pairs(
    snapshot: Snapshot, src: Target, dst: Target, protocol: Protocol, sem: Semantics
) -> list[PairResult] | None:
    """An outside client through a NodePort/LoadBalancer Service with
    externalTrafficPolicy Cluster reaches the pod as a node's address; None if not."""
    svc = dst.service
    if svc is None or svc.type not in ("NodePort", "LoadBalancer"):
        return None
    if (svc.external_traffic_policy or "Cluster") != "Cluster":
        return None
    if src.kind != "ip" or any(m.endpoint.kind is not EndpointKind.EXTERNAL for m in src.members):
        return None
    out: list[PairResult] = []
    for node in sorted(snapshot.nodes.values(), key=lambda n: n.ref.name)[:_SNAT_NODES]:
        ep = Endpoint(EndpointKind.HOST, None, node.addresses, node.ref.name)
        seen = Member(
            ep, None, f"SNAT by {svc.type} {svc.key}: the client arrives as node {node.ref.name}"
        )
        for d in dst.members:
            if d.port is not None:
                out.append(
                    PairResult(
                        seen, d, evaluate_flow(snapshot, ep, d.endpoint, protocol, d.port, sem)
                    )
                )
    return out


def _diagnose_dns(
    snapshot: Snapshot, src: Target, cni: CniInfo, sem: Semantics, symptom: Symptom | None
) -> Diagnosis:
    pods = context.dns_pods(snapshot)
    if not pods:
        raise QuestionError(
            "no cluster DNS pods in the input (no kube-dns/coredns Service in kube-system and "
            "no pod labelled k8s-app=kube-dns)"
        )
    pairs: list[PairResult] = []
    findings: list[Finding] = []
    for s in src.members:
        check = context.dns_check(snapshot, s.endpoint, sem)
        for d in check.decisions:
            pairs.append(PairResult(s, Member(d.destination, d.port), d))
        findings += context.dns_findings(snapshot, s.endpoint, check)
    decisions = [p.decision for p in pairs if p.decision is not None]
    for d in decisions:
        findings += _pair_findings(d)
    dst = Target(DNS, "dns", "cluster DNS", tuple(p.destination for p in pairs))
    verdict = aggregate(p.verdict for p in pairs if p.verdict is not None)
    findings += context.cni_findings(snapshot, cni, _nodes(decisions))
    diag = Diagnosis(
        verdict,
        src,
        dst,
        53,
        None,
        tuple(pairs),
        _order(findings),
        cni,
        _verify(snapshot, pairs, verdict, sem),
        symptom,
    )
    return diag if cni.enforces_policy else _unenforced(diag)


# --- findings ----------------------------------------------------------------------

#: Root cause first: what decides the verdict (and its nearest misses, in distance
#: order), then what qualifies it, then warnings about the setup, then context.
_GROUPS: dict[str, int] = {
    "cni-no-enforcement": 0,
    "symptom-refused": 0,
    "symptom-nxdomain": 0,
    "egress-not-allowed": 1,
    "ingress-not-allowed": 1,
    "namespace-label-mismatch": 2,
    "pod-selector-scope": 2,
    "named-port-unresolved": 2,
    "port-mismatch": 2,
    "ipblock-except": 2,
    "pod-label-mismatch": 2,
    "peer-and-or-confusion": 2,
    "port-unresolved": 3,
    "service-no-endpoints": 3,
    "dns-egress-missing": 4,
    "apiserver-egress-missing": 4,
    "icmp-undefined": 5,
    "namespace-labels-unknown": 5,
    "ipblock-pod-ip": 5,
    "own-node-egress": 5,
    "extended-policies-present": 5,
    "admin-policy-decided": 1,
    "cni-policy-decided": 1,
    "cilium-l7-decides": 1,
    "cilium-l7-shadowed": 5,
    "policy-not-enforced": 11,
    "reads-forbidden": 5,
    "policy-invalid": 6,
    "policy-types-implicit": 7,
    "policy-types-egress-ignored": 7,
    "policy-types-ingress-ignored": 7,
    "nodeport-snat": 7,
    "cni-unknown": 8,
    "cni-unhealthy": 8,
    "policy-denied-event": 8,
    "aws-vpc-cni-port-limit": 8,
    "default-deny-ingress": 10,
    "default-deny-egress": 10,
    "host-network": 11,
    "secondary-network": 11,
    "service-mesh-present": 11,
    "self-traffic": 11,
    "template-pod": 12,
    "not-isolated": 20,
}


def _order(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for f in findings:
        # One "not allowed" per blocked side: the pairs table lists every peer it blocks.
        key = (f.id, str(f.objects) if f.id in _PER_SIDE else f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    # Stable: inside a group, near misses keep their distance order.
    unique.sort(key=lambda f: _GROUPS.get(f.id, 9))
    return tuple(unique)


_DECISIVE = frozenset(k for k, group in _GROUPS.items() if group <= 3)
_PER_SIDE = frozenset({"ingress-not-allowed", "egress-not-allowed"})
#: What decides when the data plane overrides the policies.
_DATA_PLANE = frozenset({"cni-no-enforcement"})


def _nodes(decisions: Iterable[Decision]) -> set[str]:
    return {n for d in decisions for n in (d.source.node, d.destination.node) if n}


def _findings(
    snapshot: Snapshot,
    src: Target,
    dst: Target,
    pairs: list[PairResult],
    cni: CniInfo,
    sem: Semantics,
    asked_apiserver: bool,
    symptom: Symptom | None,
) -> tuple[Finding, ...]:
    out: list[Finding] = []
    decisions = [p.decision for p in pairs if p.decision is not None]
    for pair in pairs:
        if pair.decision is None:
            refs = (pair.destination.endpoint.pod.ref,) if pair.destination.endpoint.pod else ()
            msg = pair.problem or "the destination has no such port"
            out.append(Finding("port-unresolved", Severity.ERROR, msg, refs))
        else:
            out += _pair_findings(pair.decision)
    if dst.kind == "service" and not dst.members:
        svc = dst.service
        out.append(
            Finding(
                "service-no-endpoints",
                Severity.ERROR,
                f"Service {svc.key if svc else dst.label} selects no running pod: connections "
                "are refused or time "
                f"out whatever the policies say ({_endpointslices_command(svc)})",
                (svc.ref,) if svc else (),
            )
        )
    for s in src.members:
        if s.endpoint.kind is EndpointKind.POD and s.endpoint.pod is not None:
            check = context.dns_check(snapshot, s.endpoint, sem)
            out += context.dns_findings(snapshot, s.endpoint, check)
            if not (
                dst.service and dst.service.key == "default/kubernetes" and not asked_apiserver
            ):
                out += context.apiserver_check(snapshot, s.endpoint, sem, asked_apiserver)
    out += context.policy_types_findings(decisions)
    out += context.nodeport_snat_findings(snapshot, src, dst, decisions, sem)
    out += context.cni_findings(snapshot, cni, _nodes(decisions))
    out += context.host_network_findings(decisions)
    pods = _pods(decisions)
    shared = dataplane.shared_network_findings(decisions)
    covered = {r for f in shared for r in f.objects}
    out += shared
    out += [
        f
        for f in context.mesh_and_multus_findings(snapshot, pods)
        if not (f.id == "secondary-network" and covered.intersection(f.objects))
    ]
    out += _aws_findings(cni, decisions)
    out += context.event_findings(snapshot, pods)
    out += _input_findings(snapshot, pods)
    out += family_findings(snapshot)
    out += _symptom_findings(snapshot, dst, pairs, symptom, sem)
    return _order(out)


def _aws_findings(cni: CniInfo, decisions: list[Decision]) -> list[Finding]:
    """Per peer address for this flow (what decides), then the per-policy count for
    the policies not already named (what `lint` says too)."""
    flow = dataplane.aws_overflow_findings(decisions)
    named = {r for f in flow for r in f.objects}
    generic = context.aws_port_limit_findings(cni, decisions)
    return flow + [f for f in generic if not named.intersection(f.objects)]


def _pods(decisions: Iterable[Decision]) -> list[Pod]:
    seen: dict[str, Pod] = {}
    for d in decisions:
        for ep in (d.source, d.destination):
            if ep.pod is not None:
                seen.setdefault(ep.pod.key, ep.pod)
    return list(seen.values())


def _pair_findings(d: Decision) -> list[Finding]:
    out: list[Finding] = []
    for side in (d.egress, d.ingress):
        out += _direction_findings(d, side)
    for ep in (d.source, d.destination):
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
    if d.protocol is Protocol.ICMP and (
        d.egress.undefined_protocol or d.ingress.undefined_protocol
    ):
        out.append(
            Finding(
                "icmp-undefined",
                Severity.WARNING,
                "the question is ICMP (ping): NetworkPolicy only defines TCP, UDP and SCTP; once "
                "a pod is isolated, whether ICMP passes depends on the plugin (Cilium drops it "
                "unless an ICMP rule allows it; Calico applies rules without ports to all "
                "protocols). Test with TCP or UDP instead",
            )
        )
    out += _layer_findings(d)
    if d.if_enforced is not None:
        out.append(_admin_if_enforced(d))
    elif d.extended:
        # A ref named "*" is a list that could not be read (live 403, unreadable input).
        present = [r for r in d.extended if r.name != "*"]
        unread = [
            f"{r.kind} in {f'namespace {r.namespace}' if r.namespace else 'the whole cluster'}"
            for r in d.extended
            if r.name == "*"
        ]
        parts = []
        if present:
            names = ", ".join(str(r) for r in present[:5])
            more = f" and {len(present) - 5} more" if len(present) > 5 else ""
            verb = "is" if len(present) == 1 else "are"
            parts.append(f"{names}{more} {verb} not evaluated yet")
        if unread:
            parts.append(f"{', '.join(unread)} could not be read")
        out.append(
            Finding(
                "extended-policies-present",
                Severity.WARNING,
                f"{'; '.join(parts)}: such policies can also decide this traffic: "
                "deny what NetworkPolicy allows, or allow what it denies (Cilium adds its "
                "allows to NetworkPolicy's; Calico tiers and admin-tier policies act "
                f"before it). Standard NetworkPolicy alone says {d.network_policy_verdict.value}",
                d.extended,
            )
        )
    return out


def _admin_if_enforced(d: Decision) -> Finding:
    """Plugin unknown, and the admin tiers would change NetworkPolicy's answer."""
    assert d.if_enforced is not None
    acted = []
    for layer in d.layers:
        step = deciding_step(layer)
        if step is not None and step.ref.kind in _ADMIN_KINDS:
            verb = "allows" if step.action is Action.ALLOW else "denies"
            acted.append(f"{step.ref} {step.rule} {verb} this {layer.side.direction.value.lower()}")
    what = "; ".join(acted) or ", ".join(str(r) for r in d.extended[:5]) + " may decide this"
    return Finding(
        "extended-policies-present",
        Severity.WARNING,
        f"{what}. The network plugin is not known: if it implements the admin tiers "
        "(Calico, Antrea, OVN-Kubernetes, kube-network-policies; not Cilium), the answer is "
        f"{d.if_enforced.value}; if not, NetworkPolicy alone says "
        f"{d.network_policy_verdict.value}. Name the plugin with --cni",
        d.extended,
    )


_ADMIN_KINDS = frozenset(
    {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"}
)


def _layer_findings(d: Decision) -> list[Finding]:
    """Which admin-tier object decided, and which objects the plugin ignores."""
    out: list[Finding] = []
    if d.inert:
        names = ", ".join(str(r) for r in d.inert[:5])
        out.append(
            Finding(
                "policy-not-enforced",
                Severity.INFO,
                f"{names}: the network plugin ({d.semantics.cni}) does not implement this "
                "kind, so it has no effect on this traffic",
                d.inert,
            )
        )
    if d.if_enforced is not None:
        return out  # plugin unknown: the admin-tier reading is in extended-policies-present
    for layer in d.layers:
        for note in layer.verdict.notes:
            out.append(Finding(note.id, Severity.WARNING, note.detail, note.refs, note.rule))
        step = deciding_step(layer)
        word = layer.side.direction.value.lower()
        if step is None:
            out += _default_decided(d, layer)
            continue
        verb = "denies" if step.action is Action.DENY else "allows"
        severity = Severity.ERROR if step.action is Action.DENY else Severity.INFO
        if step.ref.kind in _ADMIN_KINDS:
            why = (
                "Admin-tier rules act before NetworkPolicy, which cannot override them"
                if "Admin tier" in step.reason
                else "the Baseline tier applies because no NetworkPolicy isolates the pod"
            )
            fid = "admin-policy-decided"
        elif step.ref.kind in ("NetworkPolicy", "Pod"):
            continue  # NetworkPolicy's own findings explain it
        else:
            why = f"the network plugin ({d.semantics.cni}) applies it with NetworkPolicy"
            fid = "cni-policy-decided"
        out.append(
            Finding(
                fid,
                severity,
                f"{' '.join(x for x in (str(step.ref), step.rule) if x)} {verb} this {word} "
                f"({step.reason}); {why}",
                (step.ref,),
                step.rule,
            )
        )
    return out


def _default_decided(d: Decision, layer: Layer) -> list[Finding]:
    """A plugin's policies isolate the pod and none of their rules admits the flow,
    where NetworkPolicy alone would allow it (e.g. a CiliumNetworkPolicy's default deny)."""
    side = layer.side
    v = layer.verdict
    if v.action is not Action.DENY or v.certainty is not Tri.YES or side.result is Tri.NO:
        return []
    refs = tuple(
        dict.fromkeys(s.ref for s in v.steps if s.ref.kind not in ("Pod", "NetworkPolicy"))
    )
    if not refs:
        return []
    word = side.direction.value.lower()
    names = ", ".join(str(r) for r in refs)
    why = v.steps[-1].reason if v.steps else ""
    return [
        Finding(
            "cni-policy-decided",
            Severity.ERROR,
            f"{names} select {side.subject.label} for {word} and none of their rules admits "
            f"this ({why}); the network plugin ({d.semantics.cni}) denies what no rule allows",
            refs,
        )
    ]


def _direction_findings(d: Decision, side: DirectionResult) -> list[Finding]:
    out: list[Finding] = []
    word = side.direction.value.lower()
    subject = side.subject
    other = d.destination if side.direction is Direction.EGRESS else d.source
    if side.exemption is not None or subject.pod is None:
        return out
    layer = layer_of(d, side)
    if layer is not None and d.if_enforced is None:
        step = deciding_step(layer)
        family = step is not None and step.ref.kind != "NetworkPolicy"
        if family or side_verdict(d, side) is not Verdict.of(side.result):
            return out  # another family decided this direction (_layer_findings says which)
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
                "policy does not block it there",
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
        blocked = _not_allowed(d, side)
        if d.if_enforced is not None and side_verdict(d, side) is Verdict.UNKNOWN:
            # One reading of two: no fix for a block an admin-tier Allow may override.
            blocked = replace(
                blocked,
                severity=Severity.WARNING,
                fix=None,
                message=f"{blocked.message}\n(only if the network plugin does not implement "
                "the admin tiers: see extended-policies-present)",
            )
        out.append(blocked)
        out += [m.finding for m in near_misses(d, side)]
    out += breadth_warnings(d, side)
    if side.own_node_egress:
        out.append(
            Finding(
                "own-node-egress",
                Severity.WARNING,
                f"{pod.key} is egress-isolated and {other.label} is its own node: the network "
                "plugin decides (NetworkPolicy guarantees only traffic from the own node)",
                (pod.ref,),
            )
        )
    # What could not be decided matters only while nothing else admits the flow.
    undecided = side.outcomes if side.result is not Tri.YES else ()
    for o in undecided:
        for po in o.peers:
            if PeerMiss.NAMESPACE_LABELS_UNKNOWN in po.misses and po.result is Tri.UNKNOWN:
                out.append(
                    Finding(
                        "namespace-labels-unknown",
                        Severity.WARNING,
                        f"{rule_name(o.policy, o.rule, side.direction)} selects namespaces by "
                        f"label, and namespace {po.namespace} is not in the input: only its "
                        "kubernetes.io/metadata.name label is known, so this rule may or may "
                        "not admit the traffic (add the Namespace to the input)",
                        (o.policy.ref, ObjectRef("Namespace", None, po.namespace or "?")),
                    )
                )
            if {PeerMiss.POD_IP_IMPL_DEFINED, PeerMiss.NO_POD_IP, PeerMiss.POD_IP_EXCLUDED} & set(
                po.misses
            ):
                out.append(
                    Finding(
                        "ipblock-pod-ip",
                        Severity.WARNING,
                        f"{rule_name(o.policy, o.rule, side.direction)}: only an ipBlock could "
                        "match the pod, and whether ipBlock matches pod IPs depends on the "
                        "network plugin (Calico: yes; Cilium: no); pod IPs also change on "
                        "every restart: use pod and namespace selectors for pods",
                        (o.policy.ref,),
                    )
                )
    return out


def _not_allowed(d: Decision, side: DirectionResult) -> Finding:
    word = side.direction.value.lower()
    other = d.destination if side.direction is Direction.EGRESS else d.source
    pod = side.subject.pod
    assert pod is not None
    lines = []
    for o in nearest_misses(side):
        lines.append(rule_name(o.policy, o.rule, side.direction))
        lines += [
            "  " + peer_outcome(p, o.policy, side.direction)
            for p in o.peers
            if p.result is not Tri.YES
        ]
        if o.ports_result is not Tri.YES:
            missed = tuple(p for p in o.ports if p.match.result is not Tri.YES)
            lines += ["  " + x for x in port_outcome_lines(missed, d.protocol, d.port)]
    msg = direction_summary(side, other.label)
    if lines:
        msg += "\nnearest misses:\n" + "\n".join(lines)
    fix = None
    if d.protocol is not Protocol.ICMP:
        # A node, a hostNetwork pod or an outside client is only ever an address (NP-94).
        other_pod = other.pod if other.kind is EndpointKind.POD else None
        cidrs = [] if other_pod else [f"{ip}/{ip.max_prefixlen}" for ip in other.ips]
        fix = allow_flow_policy(side.direction, pod, other_pod, cidrs, d.protocol, d.port)
    return Finding(
        f"{word}-not-allowed",
        Severity.ERROR,
        msg,
        (pod.ref, *(p.ref for p in side.isolated_by)),
        None,
        fix,
    )


def _is_default_deny(p: NetworkPolicy, direction: Direction) -> bool:
    return p.pod_selector.is_empty and p.controls(direction) and not p.rules(direction)


def _distance(o: RuleOutcome) -> int:
    """How much would have to change for this rule to admit the flow."""
    cost = 0
    if o.peers_result is not Tri.YES:
        cost += min(
            (
                sum(
                    max(1, len(m.misses))
                    for m in (po.pod_match, po.namespace_match)
                    if m is not None and m.result is not Tri.YES
                )
                + 2 * sum(1 for x in po.misses if x in _FAR_MISSES)
                for po in o.peers
            ),
            default=1,
        )
    if o.ports_result is not Tri.YES:
        cost += 1
    return cost


_FAR_MISSES = (PeerMiss.OTHER_NAMESPACE, PeerMiss.NOT_A_POD, PeerMiss.IP_BLOCK)


def nearest_misses(side: DirectionResult, limit: int = 3) -> list[RuleOutcome]:
    """Rules that came closest to admitting the flow, closest first."""
    candidates = [o for o in side.outcomes if o.rule is not None and o.result is not Tri.YES]
    candidates.sort(key=lambda o: (_distance(o), o.policy.ref.key, o.rule.index if o.rule else 0))
    return candidates[:limit]


def _input_findings(snapshot: Snapshot, pods: Iterable[Pod]) -> list[Finding]:
    """Rejected policies in the namespaces of the question, and cluster-wide ones (which
    select pods everywhere): they look active but are not."""
    namespaces: set[str | None] = {p.namespace for p in pods} | {None}
    return [
        replace(
            f, message=f"{f.objects[0]}" + (f" {f.field}" if f.field else "") + f": {f.message}"
        )
        for f in snapshot.problems
        if f.id == "policy-invalid" and f.objects and f.objects[0].namespace in namespaces
    ]


# --- symptom routing and verification ----------------------------------------------


def _symptom_findings(
    snapshot: Snapshot,
    dst: Target,
    pairs: list[PairResult],
    symptom: Symptom | None,
    sem: Semantics,
) -> list[Finding]:
    if symptom is Symptom.REFUSED:
        checks: list[str] = []
        if dst.kind == "service":
            n = len(dst.members)
            checks.append(
                f"Service {dst.label} has {plural(n, 'backing pod')}"
                + ("" if n else ": nothing listens, hence the refusal")
            )
        for p in pairs:
            pod = p.destination.endpoint.pod
            if p.problem:
                checks.append(p.problem)
            elif pod is not None and p.destination.port is not None:
                declared = any(cp.port == p.destination.port for cp in pod.ports)
                if not declared:
                    checks.append(
                        f"{pod.key} declares no containerPort {p.destination.port} (declaring is "
                        "optional, but check the process listens there)"
                    )
        denied = [p for p in pairs if p.verdict is Verdict.DENIED]
        policy = (
            "The policies here would drop this flow, which shows as a timeout, not a refusal: "
            "so the packets are not reaching policy, or something else answers. "
            if denied
            else ""
        )
        return [
            Finding(
                "symptom-refused",
                Severity.WARNING,
                "'connection refused' means a host answered with a reset: NetworkPolicy drops "
                "silently, so policy is unlikely to be the cause. "
                + policy
                + (
                    "Checked: " + "; ".join(checks)
                    if checks
                    else "Check the port is listening (kubectl exec ... -- ss -ltn)."
                ),
            )
        ]
    if symptom is Symptom.NXDOMAIN:
        name = (
            f"{dst.service.name}.{dst.service.namespace}.svc.cluster.local" if dst.service else None
        )
        return [
            Finding(
                "symptom-nxdomain",
                Severity.WARNING,
                "NXDOMAIN means DNS answered that the name does not exist: the lookup got "
                "through, so policy is not blocking DNS. Check the name and namespace"
                + (f" ({name})" if name else "")
                + ". A DNS *timeout* would point to blocked DNS egress (see dns-egress-missing; "
                "`netpol-doctor diagnose SRC dns`)",
            )
        ]
    return []


def _verify(
    snapshot: Snapshot, pairs: list[PairResult], verdict: Verdict, sem: Semantics
) -> tuple[str, ...]:
    """For a denial: the failing command, and the same test from a pod that should pass."""
    if verdict is not Verdict.DENIED:
        return ()
    pair = next((p for p in pairs if p.verdict is Verdict.DENIED and p.decision), None)
    if pair is None or pair.decision is None:
        return ()
    d = pair.decision
    dst_ip = d.destination.ips[0] if d.destination.ips else None
    if dst_ip is None:
        return ()
    lines = []
    src_pod = d.source.pod
    if src_pod is not None and not src_pod.is_template:
        lines.append(f"{_probe(src_pod, str(dst_ip), d.port, d.protocol)}   # expected to time out")
    blocked = d.egress if d.egress.result is Tri.NO else d.ingress
    alt = _alternative_source(snapshot, d, blocked, sem)
    if alt is not None:
        why = (
            "not selected by any egress policy"
            if blocked.direction is Direction.EGRESS
            else "admitted by the destination's ingress rules"
        )
        lines.append(
            f"{_probe(alt, str(dst_ip), d.port, d.protocol)}   "
            f"# {comment(alt.key)}: {why}; expected to connect"
        )
    return tuple(lines)


def _probe(pod: Pod, ip: str, port: int, protocol: Protocol) -> str:
    flags = "-zuv" if protocol is Protocol.UDP else "-zv"
    return command(
        "kubectl",
        "exec",
        "-n",
        pod.namespace,
        pod.name,
        "--",
        "nc",
        flags,
        "-w",
        "3",
        ip,
        str(port),
    )


def _endpointslices_command(svc: Service | None) -> str:
    if svc is None:
        return "kubectl get endpointslices -n NAMESPACE -l kubernetes.io/service-name=NAME"
    return command(
        "kubectl",
        "get",
        "endpointslices",
        "-n",
        svc.namespace,
        "-l",
        f"kubernetes.io/service-name={svc.name}",
    )


_ALTERNATIVES_SCANNED = 500


def alternative_candidates(
    snapshot: Snapshot, namespace: str, usable: Callable[[Pod], bool]
) -> list[Pod]:
    """The first `_ALTERNATIVES_SCANNED` usable pods: the namespace's own, then the
    others', each by key (`ns/name`). Namespaces are taken in key order (by `ns/`:
    `a-b/x` sorts before `a/x`) until there are enough, so 100,000 pods are not
    sorted to find a few hundred."""
    by_ns = snapshot.pods_by_namespace
    out: list[Pod] = []
    for ns in [namespace, *sorted((n for n in by_ns if n != namespace), key=_slash)]:
        if len(out) >= _ALTERNATIVES_SCANNED:
            break
        pods = sorted((p for p in by_ns.get(ns, ()) if usable(p)), key=lambda p: p.name)
        out += pods[: _ALTERNATIVES_SCANNED - len(out)]
    return out


def _slash(namespace: str) -> str:
    return namespace + "/"


def _alternative_source(
    snapshot: Snapshot, d: Decision, blocked: DirectionResult, sem: Semantics
) -> Pod | None:
    src = d.source.pod
    if src is None:
        return None
    dst = d.destination.pod

    def usable(p: Pod) -> bool:  # pod keys are unique: identity is key equality
        return (
            p is not src
            and p is not dst
            and not p.is_template
            and not p.host_network
            and bool(p.ips)
            and not p.finished
        )

    for p in alternative_candidates(snapshot, src.namespace, usable):
        alt = evaluate_flow(
            snapshot, endpoint_for_pod(snapshot, p), d.destination, d.protocol, d.port, sem
        )
        if alt.verdict is not Verdict.ALLOWED:
            continue
        if blocked.direction is Direction.EGRESS and alt.egress.isolated:
            continue
        return p
    return None
