"""Root causes that are not a missed rule: when the block comes from one of these, the
finding that names it decides, comes first and carries its own fix, ahead of the
generic "add a NetworkPolicy admitting exactly this flow".

- a rule that would admit the flow, ignored because `policyTypes` leaves its direction
  out (NP-26): add the direction to that policy's policyTypes;
- an outside client through a NodePort/LoadBalancer Service with
  externalTrafficPolicy Cluster, admitted by its own address but SNATed to node
  addresses the rules do not admit (NP-95, NP-53): externalTrafficPolicy Local, or
  admit the node addresses;
- an ipBlock that admits pods by address (NP-51; seed 000: "works from some pods but
  not others", "pod IPs change"): name the node whose podCIDR it is, the replicas
  inside and outside it, and replace it with a pod/namespace selector peer.

Each finding keeps the id of the warning it replaces (the same docs page), worded as
the cause. Pure functions over decisions; imports `engine`, `explain`, `findings`,
`fixes`, `model`, `selectors`, `snapshot` (never `diagnose`, which calls this).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

from ..engine import (
    Decision,
    DirectionResult,
    EndpointKind,
    PeerMiss,
    Verdict,
    _rule,  # one rule against one flow: the engine's own matcher, not a copy of it
)
from ..explain import rule_name
from ..findings import Finding, Fix, Severity
from ..fixes import add_policy_type, peer_dict, peer_for, rule_dict, rule_patch_hint
from ..model import Direction, IPBlock, IPNetwork, NetworkPolicy, Pod, Rule
from ..selectors import Tri
from ..snapshot import Snapshot
from .words import series

__all__ = ["ROOT_CAUSE_IDS", "root_causes"]

ROOT_CAUSE_IDS = frozenset(
    {
        "policy-types-ingress-ignored",
        "policy-types-egress-ignored",
        "nodeport-snat",
        "ipblock-pod-ip",
    }
)

#: How many replicas are named on each side before "and N more".
_SHOWN = 4


def root_causes(
    snapshot: Snapshot,
    decisions: Sequence[Decision],
    snat_decisions: Sequence[Decision],
    findings: Iterable[Finding],
) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
    """(the deciding root-cause findings, the other findings without the warnings
    they replace)."""
    rest = list(findings)
    causes: list[Finding] = []
    causes += _policy_types(snapshot, decisions)
    causes += _ipblock_pod_ip(snapshot, decisions)
    snat = _nodeport_snat(decisions, snat_decisions, rest)
    causes += snat
    if not causes:
        return (), tuple(rest)
    replaced = {(c.id, c.objects[:1]) for c in causes}
    rest = [f for f in rest if (f.id, f.objects[:1]) not in replaced]
    unique: dict[tuple[str, str], Finding] = {}
    for c in causes:
        unique.setdefault((c.id, c.message), c)
    return tuple(unique.values()), tuple(rest)


def _blocked_sides(d: Decision) -> list[DirectionResult]:
    if d.verdict is Verdict.ALLOWED:
        return []
    return [
        s
        for s in (d.egress, d.ingress)
        if s.result is not Tri.YES and s.exemption is None and s.subject.pod is not None
    ]


# --- policyTypes --------------------------------------------------------------------


def _policy_types(snapshot: Snapshot, decisions: Sequence[Decision]) -> list[Finding]:
    out: list[Finding] = []
    for d in decisions:
        for side in _blocked_sides(d):
            for p in side.selecting:
                rules = p.rules(side.direction)
                if p.controls(side.direction) or not rules:
                    continue
                admitting = [r for r in rules if _admits(snapshot, d, side, p, r)]
                if admitting:
                    out.append(_policy_types_finding(d, side, p, admitting))
    return out


def _admits(
    snapshot: Snapshot, d: Decision, side: DirectionResult, p: NetworkPolicy, r: Rule
) -> bool:
    other = d.destination if side.direction is Direction.EGRESS else d.source
    dst = d.destination
    dst_ports = dst.pod.ports if dst.kind is EndpointKind.POD and dst.pod else None
    outcome = _rule(snapshot, p, r, other, d.protocol, d.port, dst_ports, d.semantics)
    return outcome.result is Tri.YES


def _policy_types_finding(
    d: Decision, side: DirectionResult, p: NetworkPolicy, admitting: list[Rule]
) -> Finding:
    word = side.direction.value.lower()
    other = d.destination if side.direction is Direction.EGRESS else d.source
    assert side.subject.pod is not None
    types = ", ".join(sorted(t.value for t in p.policy_types))
    rules = series([rule_name(p, r, side.direction) for r in admitting])
    blockers = series([q.ref.key for q in side.isolated_by]) or "another policy"
    msg = (
        f"{rules} would admit {other.label} ({d.protocol.value} {d.port}), but the policy's "
        f"policyTypes is [{types}], which leaves out {side.direction.value}: Kubernetes "
        f"ignores its {word} rules, so {word} of {side.subject.pod.key} stays denied "
        f"(isolated by {blockers})"
    )
    return Finding(
        f"policy-types-{word}-ignored",
        Severity.ERROR,
        msg,
        (p.ref,),
        "spec.policyTypes",
        add_policy_type(p, side.direction),
    )


# --- NodePort / LoadBalancer SNAT -----------------------------------------------------


def _nodeport_snat(
    decisions: Sequence[Decision], snat: Sequence[Decision], findings: list[Finding]
) -> list[Finding]:
    """The client's own address passes, a node address does not: SNAT is the cause."""
    denied = [d for d in snat if d.verdict is Verdict.DENIED]
    if not denied or any(d.verdict is Verdict.DENIED for d in decisions):
        return []
    generic = next((f for f in findings if f.id == "nodeport-snat"), None)
    if generic is None:
        return []
    passed = [d for d in snat if d.verdict is Verdict.ALLOWED]
    client = decisions[0].source.label if decisions else "the client"
    nodes = sorted({d.source.node or d.source.label for d in denied})
    msg = (
        generic.message.split(":", 1)[0]
        + f": {client} is admitted by its own address, but through the Service it arrives "
        f"as a node address, and from {'node' if len(nodes) == 1 else 'nodes'} {series(nodes)} the "
        "backend pods' ingress rules do not admit it"
    )
    if passed:
        ok = sorted({d.source.node or d.source.label for d in passed})
        msg += f" (from {series(ok)} it passes)"
    return [replace(generic, severity=Severity.ERROR, message=msg)]


# --- ipBlock admitting pods by address ----------------------------------------------


def _ipblock_pod_ip(snapshot: Snapshot, decisions: Sequence[Decision]) -> list[Finding]:
    out: list[Finding] = []
    for d in decisions:
        for side in _blocked_sides(d):
            other = d.destination if side.direction is Direction.EGRESS else d.source
            pod = other.pod if other.kind is EndpointKind.POD else None
            if pod is None:
                continue
            for o in side.outcomes:
                if o.rule is None:
                    continue
                for po in o.peers:
                    block = po.peer.ip_block
                    if block is None or po.result is Tri.YES:
                        continue
                    in_block = bool(
                        {PeerMiss.POD_IP_IMPL_DEFINED, PeerMiss.POD_IP_EXCLUDED, PeerMiss.NO_POD_IP}
                        & set(po.misses)
                    )
                    nodes = _nodes_of_block(snapshot, block)
                    replicas = _replicas(snapshot, pod)
                    siblings_in = [r for r in replicas if _inside(block, r.ips)]
                    if not in_block and not (
                        siblings_in or any(_subnet(block.cidr, c) for _, c in nodes)
                    ):
                        continue  # an ipBlock for outside addresses, not aimed at pods
                    out.append(
                        _ipblock_finding(
                            d,
                            side,
                            o.policy,
                            o.rule,
                            po.peer.index,
                            block,
                            pod,
                            _placement(block, pod, replicas, nodes),
                        )
                    )
    return out


def _subnet(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


def _inside(block: IPBlock, ips: Iterable[IPv4Address | IPv6Address]) -> bool:
    return any(
        ip.version == block.cidr.version
        and ip in block.cidr
        and not any(ip.version == e.version and ip in e for e in block.excepts)
        for ip in ips
    )


def _nodes_of_block(snapshot: Snapshot, block: IPBlock) -> list[tuple[str, IPNetwork]]:
    """Nodes whose podCIDR the block lies in or covers."""
    out = []
    for n in sorted(snapshot.nodes.values(), key=lambda n: n.ref.name):
        for c in n.pod_cidrs:
            if _subnet(block.cidr, c) or _subnet(c, block.cidr):
                out.append((n.ref.name, c))
    return out


def _replicas(snapshot: Snapshot, pod: Pod) -> list[Pod]:
    """Live pods of the same workload (same controller owner), the pod included."""
    if pod.owner is None or pod.is_template:
        return [pod]
    return sorted(
        (
            p
            for p in snapshot.pods_by_namespace.get(pod.namespace, ())
            if p.owner == pod.owner and not p.is_template and not p.finished
        ),
        key=lambda p: p.key,
    )


def _ipblock_finding(
    d: Decision,
    side: DirectionResult,
    policy: NetworkPolicy,
    rule: Rule,
    peer_index: int,
    block: IPBlock,
    pod: Pod,
    placement: tuple[str, str],
) -> Finding:
    word = side.direction.value.lower()
    name = rule_name(policy, rule, side.direction)
    where = "from" if side.direction is Direction.INGRESS else "to"
    msg = (
        f"{name} admits pods by address ({where}[{peer_index}] ipBlock {block}"
        + (f", {placement[0]}" if placement[0] else "")
        + "), not by labels"
        + (f": {placement[1]}" if placement[1] else "")
        + ". Pod IPs change on every restart and reschedule, and whether an ipBlock "
        "matches pod IPs at all depends on the network plugin (Calico: yes; Cilium: no)"
    )
    new_rule = rule_dict(
        rule,
        peers=[
            peer_for(pod, policy.namespace) if p.index == peer_index else peer_dict(p)
            for p in rule.peers or ()
        ],
    )
    owner = f"{pod.owner[0]} {pod.namespace}/{pod.owner[1]}" if pod.owner else pod.key
    fix = Fix(
        f"admit the pods of {owner} by their labels: replace the ipBlock with a podSelector"
        + (" and namespaceSelector" if pod.namespace != policy.namespace else "")
        + " peer",
        rule_patch_hint(policy, rule, new_rule),
        f"keep ipBlock for addresses outside the cluster; the {word} rule then admits every "
        "pod with these labels, whatever its address",
    )
    severity = Severity.ERROR if d.verdict is Verdict.DENIED else Severity.WARNING
    return Finding("ipblock-pod-ip", severity, msg, (policy.ref,), rule.path, fix)


def _placement(
    block: IPBlock, pod: Pod, replicas: list[Pod], nodes: list[tuple[str, IPNetwork]]
) -> tuple[str, str]:
    """(whose pod range the block is, which replicas it covers), each possibly empty."""
    whose = ""
    if nodes:
        exact = [n for n, c in nodes if c == block.cidr]
        whose = (
            f"the pod range of {'node' if len(exact) == 1 else 'nodes'} {series(exact)}"
            if exact
            else "inside the pod range of " + series([f"node {n} ({c})" for n, c in nodes[:_SHOWN]])
        )
    if not pod.ips:
        return whose, ""
    others = [r for r in replicas if r is not pod and r.ips]
    inside = [r for r in others if _inside(block, r.ips)]
    outside = [r for r in others if not _inside(block, r.ips)]
    owner = f"{pod.owner[0]} {pod.namespace}/{pod.owner[1]}" if pod.owner else ""
    if _inside(block, pod.ips):
        which = f"{_placed(pod)} is inside it"
    else:
        which = f"{_placed(pod)} is outside it"
    if inside and not _inside(block, pod.ips):
        which += (
            f", while {_names(inside)} of the same {owner} "
            f"{'is' if len(inside) == 1 else 'are'} inside: it works from some pods and not "
            "others"
        )
    elif outside and _inside(block, pod.ips):
        which += (
            f", while {_names(outside)} of the same {owner} "
            f"{'is' if len(outside) == 1 else 'are'} outside: it works from some pods and not "
            "others"
        )
    return whose, which


def _placed(pod: Pod) -> str:
    ip = ", ".join(str(i) for i in pod.ips)
    node = f", node {pod.node_name}" if pod.node_name else ""
    return f"{pod.key} ({ip}{node})"


def _names(pods: list[Pod]) -> str:
    shown = [_placed(p) for p in pods[:_SHOWN]]
    if len(pods) > _SHOWN:
        shown.append(f"{len(pods) - _SHOWN} more")
    return series(shown)
