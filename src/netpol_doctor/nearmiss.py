"""Near misses: for a blocked direction, the rules that came closest to admitting the
flow, each turned into a specific finding (a namespace label, a podSelector's scope,
a port, a named port, an `except` range, a list-item indentation) with the smallest
fix; and, for an allowed flow, the OR-where-AND-was-meant breadth warning.

Pure functions over engine outcomes. Imports `model`, `selectors`, `engine`,
`findings`, `fixes`, `explain`, `shell`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .engine import Decision, DirectionResult, PeerMiss, PeerOutcome, PortOutcome, RuleOutcome
from .explain import describe_peer, describe_port, describe_ports, label_miss, rule_name
from .findings import Finding, Fix, Severity
from .fixes import (
    label_args,
    namespace_label_command,
    peer_dict,
    peer_for,
    port_dict,
    rule_dict,
    rule_patch_hint,
)
from .model import NAMESPACE_NAME_LABEL, Direction, ObjectRef, Operator, Pod, Rule
from .selectors import IPMiss, LabelMiss, PortMiss, Tri
from .shell import command

__all__ = ["NearMiss", "breadth_warnings", "near_misses"]


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A specific reason a rule missed, with how much must change (smaller = nearer)."""

    distance: int
    finding: Finding


def near_misses(d: Decision, side: DirectionResult) -> list[NearMiss]:
    """Specific near-miss findings of a denied direction, nearest first."""
    other = d.destination if side.direction is Direction.EGRESS else d.source
    out: list[NearMiss] = []
    for o in side.outcomes:
        if o.rule is None or o.result is not Tri.NO:
            continue
        if o.ports_result is Tri.YES:
            for po in o.peers:
                out += _peer_misses(o, o.rule, po, other.pod)
        if o.peers_result is Tri.YES:
            out += _port_misses(d, o, o.rule)
    out.sort(key=lambda m: (m.distance, _ORDER.index(m.finding.id), m.finding.message))
    return out


_ORDER = [
    "namespace-label-mismatch",
    "pod-selector-scope",
    "named-port-unresolved",
    "port-mismatch",
    "ipblock-except",
    "pod-label-mismatch",
    "peer-and-or-confusion",
]


def _peer_misses(o: RuleOutcome, rule: Rule, po: PeerOutcome, pod: Pod | None) -> list[NearMiss]:
    out: list[NearMiss] = []
    name = (
        f"{rule_name(o.policy, rule, rule.direction)} {rule.direction.peers_field}[{po.peer.index}]"
    )
    misses = set(po.misses)
    if misses == {PeerMiss.NAMESPACE_LABELS} and po.namespace_match is not None and pod:
        out.append(_namespace_labels(o, rule, name, po, pod))
    if misses == {PeerMiss.OTHER_NAMESPACE} and pod is not None:
        out.append(_pod_selector_scope(o, rule, name, po, pod))
    if misses == {PeerMiss.POD_LABELS} and po.pod_match is not None and pod is not None:
        out.append(_pod_labels(o, rule, name, po, pod))
    if PeerMiss.IP_BLOCK in misses and po.ip_match and po.ip_match.miss is IPMiss.EXCEPTED:
        out.append(_ip_except(o, rule, name, po))
    split = _split_would_admit(o, po, pod)
    if split is not None:
        out.append(split)
    return out


def _namespace_labels(o: RuleOutcome, rule: Rule, name: str, po: PeerOutcome, pod: Pod) -> NearMiss:
    assert po.namespace_match is not None
    ns = pod.namespace
    misses = po.namespace_match.misses
    changes: dict[str, str | None] = {}
    for m in misses:
        changes.update(_label_change(m))
    wanted = ", ".join(str(m.requirement) for m in misses)
    reasons = "; ".join(label_miss(m, f"namespace {ns}") for m in misses)
    msg = f"{name} would admit {pod.key} if namespace {ns} matched {wanted}: {reasons}"
    if NAMESPACE_NAME_LABEL in changes:
        # The API server pins this label to the namespace's name: no label command can
        # change it, so the rule is what must name this namespace.
        msg += f" ({NAMESPACE_NAME_LABEL} is always the namespace's own name)"
        fix = _add_peer_fix(
            o,
            rule,
            _by_name(po, ns),
            f"add a peer selecting namespace {ns} by name",
            f"admits {describe_peer(po.peer, o.policy.namespace)} of namespace {ns} as well",
        )
    else:
        msg += " (namespaceSelector reads the Namespace's labels, not its name)"
        fix = Fix(
            f"label the namespace (or select it by name: namespaceSelector "
            f"{NAMESPACE_NAME_LABEL}={ns})",
            namespace_label_command(ns, changes),
            f"every other policy selecting namespaces by {wanted} starts matching {ns} too",
        )
    finding = Finding(
        "namespace-label-mismatch",
        Severity.ERROR,
        msg,
        (o.policy.ref, _ns_ref(ns)),
        _path(o, po),
        fix,
    )
    return NearMiss(len(changes), finding)


def _by_name(po: PeerOutcome, ns: str) -> dict[str, object]:
    """The peer, with its namespaceSelector replaced by one naming `ns`."""
    return {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: ns}},
        **({"podSelector": peer_dict(po.peer)["podSelector"]} if po.peer.pod_selector else {}),
    }


def _add_peer_fix(
    o: RuleOutcome, rule: Rule, peer: dict[str, object], summary: str, caution: str
) -> Fix:
    """Keep the rule as it is and add one peer to it: opens nothing else."""
    assert rule.peers is not None
    peers = [peer_dict(p) for p in rule.peers] + [peer]
    return Fix(summary, rule_patch_hint(o.policy, rule, rule_dict(rule, peers=peers)), caution)


def _label_change(m: LabelMiss) -> dict[str, str | None]:
    req = m.requirement
    if req.operator is Operator.IN:
        return {req.key: req.values[0]}
    if req.operator is Operator.EXISTS:
        return {req.key: "true"}
    return {req.key: None}  # NotIn / DoesNotExist: the label must go


def _pod_selector_scope(
    o: RuleOutcome, rule: Rule, name: str, po: PeerOutcome, pod: Pod
) -> NearMiss:
    msg = (
        f"{name} ({describe_peer(po.peer, o.policy.namespace)}) matches {pod.key}'s labels, "
        f"but {pod.key} is in namespace {pod.namespace}: a podSelector without a "
        f"namespaceSelector only selects pods in {o.policy.namespace}"
    )
    fix = _add_peer_fix(
        o,
        rule,
        _by_name(po, pod.namespace),
        f"add a peer with a namespaceSelector for {pod.namespace} beside the existing one",
        f"admits those labels in namespace {pod.namespace} as well as in {o.policy.namespace}",
    )
    finding = Finding("pod-selector-scope", Severity.ERROR, msg, (o.policy.ref,), _path(o, po), fix)
    return NearMiss(1, finding)


def _pod_labels(o: RuleOutcome, rule: Rule, name: str, po: PeerOutcome, pod: Pod) -> NearMiss:
    assert po.pod_match is not None
    misses = po.pod_match.misses
    reasons = "; ".join(label_miss(m, pod.key) for m in misses)
    msg = f"{name} would admit {pod.key} if its labels matched: {reasons}"
    changes: dict[str, str | None] = {}
    for m in misses:
        changes.update(_label_change(m))
    if any(m.actual is not None for m in misses):
        # Relabelling would rename the workload (and break its Service and controller
        # selectors): admit it in the rule instead.
        fix = _add_peer_fix(
            o,
            rule,
            peer_for(pod, o.policy.namespace),
            f"if {pod.key} should be admitted, add a peer for its workload",
            f"admits every pod labelled like {pod.key}'s workload",
        )
    else:
        fix = Fix(
            "if the pod should be admitted, add the label to its workload's pod template "
            "(a label set on the Pod is lost at the next rollout); preview on the Pod:",
            command(
                "kubectl",
                "label",
                "pod",
                "-n",
                pod.namespace,
                pod.name,
                *label_args(changes),
                "--dry-run=server",
                "-o",
                "yaml",
            ),
            "every policy selecting that label then matches these pods too",
        )
    finding = Finding(
        "pod-label-mismatch", Severity.ERROR, msg, (o.policy.ref, pod.ref), _path(o, po), fix
    )
    return NearMiss(len(changes) + 1, finding)


def _ip_except(o: RuleOutcome, rule: Rule, name: str, po: PeerOutcome) -> NearMiss:
    m = po.ip_match
    assert m is not None and po.peer.ip_block is not None
    block = po.peer.ip_block
    kept = [str(e) for e in block.excepts if e != m.except_range]
    new_block: dict[str, object] = {"cidr": str(block.cidr)}
    if kept:
        new_block["except"] = kept
    assert rule.peers is not None
    peers = [
        {"ipBlock": new_block} if p.index == po.peer.index else peer_dict(p) for p in rule.peers
    ]
    msg = (
        f"{name} covers {m.address} with {block.cidr}, but its except range "
        f"{m.except_range} excludes it"
    )
    fix = Fix(
        f"drop {m.except_range} from the except list (or add a rule for {m.address}/32)",
        rule_patch_hint(o.policy, rule, rule_dict(rule, peers=peers)),
        f"opens all of {m.except_range} on this rule's ports",
    )
    finding = Finding("ipblock-except", Severity.ERROR, msg, (o.policy.ref,), _path(o, po), fix)
    return NearMiss(1, finding)


def _split_would_admit(o: RuleOutcome, po: PeerOutcome, pod: Pod | None) -> NearMiss | None:
    """One peer with both selectors (AND) where two list items (OR) would admit."""
    peer, rule = po.peer, o.rule
    if rule is None or rule.peers is None or pod is None:
        return None
    if peer.namespace_selector is None or peer.pod_selector is None or po.result is not Tri.NO:
        return None
    ns_ok = po.namespace_match is not None and po.namespace_match.result is Tri.YES
    pod_alone_ok = (
        po.pod_match is not None
        and po.pod_match.result is Tri.YES
        and pod.namespace == o.policy.namespace
    )
    if not (ns_ok or pod_alone_ok):
        return None
    ns_only = {"namespaceSelector": peer_dict(peer)["namespaceSelector"]}
    pod_only = {"podSelector": peer_dict(peer)["podSelector"]}
    peers = [peer_dict(p) for p in rule.peers if p.index != peer.index] + [ns_only, pod_only]
    half = "the namespaceSelector" if ns_ok else "the podSelector (in the policy's namespace)"
    name = f"{rule_name(o.policy, rule, rule.direction)} {rule.direction.peers_field}[{peer.index}]"
    msg = (
        f"{name} is ONE peer with namespaceSelector AND podSelector; {pod.key} satisfies "
        f"{half} only. Written as two list items (a '-' before podSelector) they would be "
        "ORed and admit it"
    )
    fix = Fix(
        "if either selector alone was meant to admit, make them two list items",
        rule_patch_hint(o.policy, rule, rule_dict(rule, peers=peers)),
        "two items admit every pod in the selected namespaces plus the selected pods of "
        f"{o.policy.namespace}: much broader than one combined peer",
    )
    finding = Finding(
        "peer-and-or-confusion", Severity.WARNING, msg, (o.policy.ref,), _path(o, po), fix
    )
    return NearMiss(3, finding)


def _port_misses(d: Decision, o: RuleOutcome, rule: Rule) -> list[NearMiss]:
    out: list[NearMiss] = []
    # A name that resolves on the pod, to another port than the one asked, works as
    # written: that is a port mismatch. A name that resolves to nothing is the trap.
    unresolved = [p for p in o.ports if p.match.miss in _UNRESOLVED]
    for p in unresolved:
        out.append(_named_port(d, o, rule, p))
    if len(unresolved) < len(o.ports):
        out.append(_port_mismatch(d, o, rule))
    return out


_UNRESOLVED = (PortMiss.NAME_MISSING, PortMiss.NAME_OTHER_PROTOCOL, PortMiss.NAME_NOT_A_POD)


def _named_port(d: Decision, o: RuleOutcome, rule: Rule, p: PortOutcome) -> NearMiss:
    dst = d.destination.pod
    where = dst.key if dst else d.destination.label
    m = p.match
    if m.miss is PortMiss.NAME_MISSING:
        have = ", ".join(
            f"{cp.port}/{cp.protocol.value}" + (f" ({cp.name})" if cp.name else "")
            for cp in (dst.ports if dst else ())
        )
        proto = p.port.protocol.value
        why = f"{where} defines no {proto} port named {p.port.port} (its ports: {have or 'none'})"
    elif m.miss is PortMiss.NAME_OTHER_PROTOCOL:
        found = ", ".join(f"{cp.port}/{cp.protocol.value}" for cp in m.resolved)
        why = (
            f"on {where} the name {p.port.port} is {found}, not {p.port.protocol.value} "
            "(the rule's protocol, TCP unless written)"
        )
    else:
        why = f"{where} is not a pod, so the port name {p.port.port} resolves to nothing"
    ports = [port_dict(x.port) for x in o.ports if x is not p] + [
        {"protocol": d.protocol.value, "port": d.port}
    ]
    msg = f"{rule_name(o.policy, rule, rule.direction)} ports[{p.port.index}]: {why}"
    fix = Fix(
        f"use the port number, or name the container port {p.port.port}",
        rule_patch_hint(o.policy, rule, rule_dict(rule, ports=ports)),
        f"a numeric port applies to {d.port} on every pod the rule covers",
    )
    finding = Finding(
        "named-port-unresolved",
        Severity.ERROR,
        msg,
        (o.policy.ref, *((dst.ref,) if dst else ())),
        f"{rule.path}.ports[{p.port.index}]",
        fix,
    )
    return NearMiss(1, finding)


def _port_mismatch(d: Decision, o: RuleOutcome, rule: Rule) -> NearMiss:
    listed = (
        ", ".join(
            describe_port(p.port)
            + (
                f" (= {'/'.join(str(c.port) for c in p.match.resolved)})"
                if p.match.resolved
                else ""
            )
            for p in o.ports
        )
        if any(p.match.resolved for p in o.ports)
        else describe_ports(rule.ports)
    )
    ports = [port_dict(x.port) for x in o.ports] + [{"protocol": d.protocol.value, "port": d.port}]
    msg = (
        f"{rule_name(o.policy, rule, rule.direction)} admits this peer, but only on {listed}; "
        f"the connection is {d.protocol.value} {d.port}"
    )
    fix = Fix(
        f"add {d.protocol.value} {d.port} to the rule's ports",
        rule_patch_hint(o.policy, rule, rule_dict(rule, ports=ports)),
        f"opens {d.protocol.value} {d.port} to every peer of this rule",
    )
    finding = Finding(
        "port-mismatch", Severity.ERROR, msg, (o.policy.ref,), f"{rule.path}.ports", fix
    )
    return NearMiss(1, finding)


def breadth_warnings(d: Decision, side: DirectionResult) -> list[Finding]:
    """Allowed only through one half of a namespaceSelector / podSelector pair written
    as two list items: if one combined peer was meant, this flow would be denied."""
    if side.result is not Tri.YES or not side.admitted_by:
        return []
    out: list[Finding] = []
    for o in side.admitted_by:
        rule = o.rule
        if rule is None or rule.peers is None:
            return []
        ns_only = [
            po
            for po in o.peers
            if po.peer.namespace_selector and po.peer.pod_selector is None and not po.peer.ip_block
        ]
        pod_only = [
            po
            for po in o.peers
            if po.peer.pod_selector and po.peer.namespace_selector is None and not po.peer.ip_block
        ]
        if not ns_only or not pod_only:
            return []
        hit = next((po for po in o.peers if po.result is Tri.YES), None)
        if hit is None or hit not in ns_only + pod_only:
            return []
        siblings = pod_only if hit in ns_only else ns_only
        if any(s.result is Tri.YES for s in siblings):
            return []  # both halves match: AND would admit it too
        a, b = (hit, siblings[0]) if hit in ns_only else (siblings[0], hit)
        field = rule.direction.peers_field
        msg = (
            f"{rule_name(o.policy, rule, rule.direction)} admits it only through {field}"
            f"[{hit.peer.index}] ({describe_peer(hit.peer, o.policy.namespace)}); {field}"
            f"[{a.peer.index}] and {field}[{b.peer.index}] are separate list items (OR). If one "
            "peer (namespace AND pod) was meant, this flow would be denied"
        )
        combined = {**peer_dict(a.peer), **peer_dict(b.peer)}
        peers = [peer_dict(p) for p in rule.peers if p.index not in (a.peer.index, b.peer.index)]
        fix = Fix(
            "if both conditions must hold, merge them into one list item",
            rule_patch_hint(o.policy, rule, rule_dict(rule, peers=[*peers, combined])),
            "then only pods matching both selectors are admitted",
        )
        out.append(
            Finding("peer-and-or-confusion", Severity.WARNING, msg, (o.policy.ref,), rule.path, fix)
        )
    return out


def _path(o: RuleOutcome, po: PeerOutcome) -> str | None:
    if o.rule is None:
        return None
    return f"{o.rule.path}.{o.rule.direction.peers_field}[{po.peer.index}]"


def _ns_ref(ns: str) -> ObjectRef:
    return ObjectRef("Namespace", None, ns)
