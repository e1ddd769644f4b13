"""Plain-English wording of selectors, rules and the engine's outcomes.

The engine decides in data; this module is the one place that turns that data into
sentences, so text, markdown and JSON say the same thing. Imports `model`,
`selectors`, `engine`, `layers` (which family decided a direction).
"""

from __future__ import annotations

from .engine import (
    Decision,
    DirectionResult,
    Exemption,
    PeerMiss,
    PeerOutcome,
    PortOutcome,
    RuleOutcome,
)
from .layers import deciding_step, layer_of, side_verdict
from .model import (
    Direction,
    LabelSelector,
    NetworkPolicy,
    Operator,
    Peer,
    PolicyPort,
    Protocol,
    Rule,
)
from .selectors import IPMiss, LabelMiss, PortMiss, Tri

__all__ = [
    "describe_peer",
    "describe_port",
    "describe_ports",
    "describe_rule",
    "describe_selector",
    "direction_summary",
    "label_miss",
    "peer_outcome",
    "port_outcome",
    "port_outcome_lines",
    "port_runs",
    "rule_name",
    "side_summary",
]


def describe_selector(sel: LabelSelector, noun: str) -> str:
    """'pods labelled app=web' / 'all pods' (noun is plural: pods, namespaces)."""
    if sel.is_empty:
        return f"all {noun}"
    return f"{noun} labelled {sel}"


def describe_port(p: PolicyPort) -> str:
    if p.port is None:
        return f"all {p.protocol.value} ports"
    if isinstance(p.port, str):
        return f"{p.protocol.value} port named {p.port}"
    return str(p)


def describe_peer(peer: Peer, policy_namespace: str) -> str:
    if peer.ip_block is not None:
        return f"addresses in {peer.ip_block}"
    pods = describe_selector(peer.pod_selector or LabelSelector(), "pods")
    if peer.namespace_selector is None:
        return f"{pods} in namespace {policy_namespace}"
    if peer.namespace_selector.is_empty:
        return f"{pods} in all namespaces"
    return f"{pods} in {describe_selector(peer.namespace_selector, 'namespaces')}"


def describe_rule(rule: Rule, policy_namespace: str) -> str:
    """'ingress from pods labelled app=web in namespace shop, TCP 8080'."""
    word = "from" if rule.direction is Direction.INGRESS else "to"
    if rule.peers is None:
        peers = f"{word} everywhere"
    else:
        peers = f"{word} " + " or ".join(describe_peer(p, policy_namespace) for p in rule.peers)
    ports = describe_ports(rule.ports) if rule.ports else "all ports"
    return f"{rule.direction.value.lower()} {peers}, {ports}"


#: this many consecutive single ports or more are shown as one range
_RUN = 3


def port_runs(ports: list[tuple[Protocol, int]]) -> list[str]:
    """'TCP 8000-8029 (30 ports)' for each run of consecutive single ports, in the order
    given otherwise: thirty near-identical lines say less than one range."""
    out: list[str] = []
    i = 0
    while i < len(ports):
        proto, start = ports[i]
        j = i
        while j + 1 < len(ports) and ports[j + 1] == (proto, ports[j][1] + 1):
            j += 1
        count = j - i + 1
        if count >= _RUN:
            out.append(f"{proto.value} {start}-{ports[j][1]} ({count} ports)")
        else:
            out += [f"{p.value} {n}" for p, n in ports[i : j + 1]]
        i = j + 1
    return out


def describe_ports(ports: tuple[PolicyPort, ...]) -> str:
    parts: list[str] = []
    singles: list[tuple[Protocol, int]] = []
    for p in ports:
        if isinstance(p.port, int) and p.end_port is None:
            singles.append((p.protocol, p.port))
            continue
        parts += port_runs(singles)
        singles = []
        parts.append(describe_port(p))
    return ", ".join(parts + port_runs(singles))


def rule_name(policy: NetworkPolicy, rule: Rule | None, direction: Direction) -> str:
    if rule is None:
        return f"NetworkPolicy {policy.ref.key} (no {direction.value.lower()} rules)"
    return f"NetworkPolicy {policy.ref.key} {rule.direction.rules_field}[{rule.index}]"


def label_miss(miss: LabelMiss, subject: str) -> str:
    req = miss.requirement
    if miss.unknown:
        return f"{subject} is not in the input, so whether it has {req} is unknown"
    if req.operator is Operator.IN:
        want = req.values[0] if len(req.values) == 1 else f"one of {', '.join(req.values)}"
        if miss.actual is None:
            return f"{subject} has no label {req.key} (wanted {req.key}={want})"
        return f'{subject} label {req.key} is "{miss.actual}", not {want}'
    if req.operator is Operator.NOT_IN:
        return f'{subject} label {req.key} is "{miss.actual}", which {req} excludes'
    if req.operator is Operator.EXISTS:
        return f"{subject} has no label {req.key} (the selector needs it to exist)"
    return f'{subject} has label {req.key}="{miss.actual}" (the selector needs it absent)'


def peer_outcome(po: PeerOutcome, policy: NetworkPolicy, direction: Direction) -> str:
    """Why one from/to item did or did not match the other endpoint."""
    head = f"{direction.peers_field}[{po.peer.index}] {describe_peer(po.peer, policy.namespace)}"
    if po.result is Tri.YES:
        return f"{head}: matches"
    reasons: list[str] = []
    ns_subject = f"namespace {po.namespace}" if po.namespace else "the namespace"
    for miss in po.misses:
        if miss is PeerMiss.OTHER_NAMESPACE:
            reasons.append(
                f"the pod is in namespace {po.namespace}, and a podSelector without "
                f"namespaceSelector only selects pods in {policy.namespace}"
            )
        elif miss in (PeerMiss.NAMESPACE_LABELS, PeerMiss.NAMESPACE_LABELS_UNKNOWN):
            assert po.namespace_match is not None
            reasons += [label_miss(m, ns_subject) for m in po.namespace_match.misses]
        elif miss is PeerMiss.POD_LABELS:
            assert po.pod_match is not None
            reasons += [label_miss(m, "pod") for m in po.pod_match.misses]
        elif miss is PeerMiss.NOT_A_POD:
            reasons.append(
                "the other side is not a pod on the pod network (a node, a hostNetwork pod "
                "or an outside address), and selectors only match such pods"
            )
        elif miss is PeerMiss.IP_BLOCK:
            reasons.append(_ip_reason(po))
        elif miss is PeerMiss.POD_IP_IMPL_DEFINED:
            reasons.append(
                "the block contains the pod's IP, but whether an ipBlock matches pod IPs "
                "depends on the network plugin (Calico: yes, Cilium: no)"
            )
        elif miss is PeerMiss.POD_IP_EXCLUDED:
            reasons.append(
                "the block may contain the pod's IP, but the network plugin in use never "
                "matches pod IPs with ipBlock (pods are matched only by selectors)"
            )
        elif miss is PeerMiss.NO_POD_IP:
            reasons.append(
                "the pod is a template with no IP yet, so the block may or may not cover it"
            )
    verdict = "does not match" if po.result is Tri.NO else "cannot be decided"
    return f"{head}: {verdict}: " + "; ".join(reasons)


def _ip_reason(po: PeerOutcome) -> str:
    m = po.ip_match
    if m is None:
        return "the block does not reach into the pod network (the nodes' pod CIDRs)"
    addr = m.address
    if m.miss is IPMiss.FAMILY:
        return f"{addr} is of the other IP family"
    if m.miss is IPMiss.EXCEPTED:
        return f"{addr} is inside the except range {m.except_range}"
    if m.miss is IPMiss.OUTSIDE:
        return f"{addr} is outside {po.peer.ip_block.cidr if po.peer.ip_block else 'the block'}"
    return "the network plugin does not match node IPs with ipBlock"


def port_outcome(po: PortOutcome, protocol: Protocol, port: int) -> str:
    spec = po.port
    head = f"ports[{spec.index}] {describe_port(spec)}"
    m = po.match
    if m.result is Tri.YES:
        if m.resolved:
            return f"{head} (= {'/'.join(str(cp.port) for cp in m.resolved)} on the pod): matches"
        return f"{head}: matches"
    asked = f"{protocol.value} {port}"
    if m.miss is PortMiss.PROTOCOL:
        return f"{head}: the connection is {asked}, another protocol"
    if m.miss in (PortMiss.NUMBER, PortMiss.RANGE):
        return f"{head}: the connection is to {asked}"
    if m.miss is PortMiss.NAME_MISSING:
        proto = spec.protocol.value
        return f"{head}: the destination pod has no {proto} containerPort named {spec.port}"
    if m.miss is PortMiss.NAME_OTHER_NUMBER:
        nums = ", ".join(str(cp.port) for cp in m.resolved)
        return f"{head}: on the destination pod {spec.port} is port {nums}, not {port}"
    if m.miss is PortMiss.NAME_OTHER_PROTOCOL:
        protos = ", ".join(cp.protocol.value for cp in m.resolved)
        return f"{head}: on the destination pod {spec.port} is {protos}, not {spec.protocol.value}"
    return f"{head}: a port name cannot match a destination that is not a pod"


def direction_summary(d: DirectionResult, other_label: str) -> str:
    """One sentence: is this direction open, and why."""
    word = d.direction.value.lower()
    who = d.subject.label
    if d.exemption is Exemption.NOT_A_POD:
        return f"{word}: no NetworkPolicy applies to {who} (not a pod)"
    if d.exemption is Exemption.HOST_NETWORK:
        return (
            f"{word}: {who} uses hostNetwork; NetworkPolicy does not select it "
            "(its traffic is the node's)"
        )
    if d.exemption is Exemption.SELF:
        return f"{word}: a pod talking to itself is not subject to NetworkPolicy"
    if d.exemption is Exemption.OWN_NODE:
        return f"{word}: traffic from the pod's own node is always allowed in"
    if d.unreadable:
        return f"{word}: the NetworkPolicies of {d.subject.namespace} could not be read"
    if not d.isolated:
        return (
            f"{word}: allowed; {who} is not isolated for {word} "
            f"(no NetworkPolicy in {d.subject.namespace} selects it for {word})"
        )
    names = ", ".join(p.ref.key for p in d.isolated_by)
    if d.result is Tri.YES:
        rules = ", ".join(rule_name(o.policy, o.rule, d.direction) for o in d.admitted_by)
        return f"{word}: allowed by {rules} (isolated by {names})"
    if d.own_node_egress:
        return (
            f"{word}: no rule admits {other_label}, but it is on the pod's own node; "
            "whether egress to the own node is allowed depends on the network plugin"
        )
    if d.result is Tri.UNKNOWN:
        return f"{word}: cannot be decided for {other_label} (isolated by {names})"
    return f"{word}: DENIED; {who} is isolated by {names} and no rule admits {other_label}"


_HEAD = {"allowed": "allowed", "denied": "DENIED", "unknown": "cannot be decided"}


def side_summary(d: Decision, side: DirectionResult) -> str:
    """The direction line: what decided this direction, whichever policy family it was
    (admin tier, Calico, Cilium or NetworkPolicy), and what NetworkPolicy alone says
    when that differs."""
    other = d.destination.label if side.direction is Direction.EGRESS else d.source.label
    alone = direction_summary(side, other)
    layer = layer_of(d, side)
    if layer is None:
        return alone
    word = side.direction.value.lower()
    np_word = {Tri.YES: "allowed", Tri.NO: "denied", Tri.UNKNOWN: "unknown"}[side.result]
    step = deciding_step(layer)
    if d.if_enforced is not None:
        # Plugin unknown: the admin-tier reading beside NetworkPolicy's.
        if step is None or side_verdict(d, side).value == np_word:
            return alone
        verb = "allows" if step.action.value == "allow" else "denies"
        return (
            f"{word}: cannot be decided: {step.ref} {step.rule} {verb} it if the network "
            f"plugin implements the admin tiers; NetworkPolicy alone says {np_word}"
        )
    verdict = side_verdict(d, side).value
    family = step is not None and step.ref.kind != "NetworkPolicy" and step.ref.kind != "Pod"
    if verdict == np_word and not family:
        return alone
    if step is not None and family:
        who = f"{step.ref} {step.rule}" if step.rule else str(step.ref)
        why = step.reason
    else:
        # No single rule took the action: a default (Cilium's or Calico's isolation,
        # the end of a tier); the last step says which policies isolate the pod.
        steps = layer.verdict.steps
        refs = [s.ref for s in steps if s.ref.kind not in ("Pod", "NetworkPolicy")]
        who = ", ".join(dict.fromkeys(str(r) for r in refs)) or "the network plugin's policies"
        why = steps[-1].reason if steps else "no rule admits it"
        if why.startswith(f"{word}: "):
            why = why[len(word) + 2 :]
    if verdict == "unknown" and layer.verdict.unknown_reason:
        why = layer.verdict.unknown_reason
    return f"{word}: {_HEAD[verdict]} by {who} ({why}); NetworkPolicy alone says {np_word}"


def rule_outcome_lines(
    o: RuleOutcome, protocol: Protocol, port: int, direction: Direction
) -> list[str]:
    """The rule's verdict, then one line per peer and per port explaining it."""
    name = rule_name(o.policy, o.rule, direction)
    if o.rule is None:
        return [f"{name}: admits nothing"]
    word = {Tri.YES: "admits", Tri.NO: "does not admit", Tri.UNKNOWN: "may admit"}[o.result]
    lines = [f"{name}: {word} it ({describe_rule(o.rule, o.policy.namespace)})"]
    if o.rule.peers is None:
        lines.append(f"  {direction.peers_field}: any peer: matches")
    else:
        lines += [f"  {peer_outcome(p, o.policy, direction)}" for p in o.peers]
    if not o.rule.ports:
        lines.append("  ports: all: matches")
    else:
        lines += [f"  {line}" for line in port_outcome_lines(o.ports, protocol, port)]
    return lines


def port_outcome_lines(ports: tuple[PortOutcome, ...], protocol: Protocol, port: int) -> list[str]:
    """One line per port, except that a run of single ports that miss the same way is
    one line: `ports[0-28] TCP 8000-8028 (29 ports): the connection is to TCP 8029`."""
    out: list[str] = []
    i = 0
    while i < len(ports):
        j = i
        while (
            j + 1 < len(ports)
            and _plain_miss(ports[j])
            and _plain_miss(ports[j + 1])
            and ports[j + 1].port.protocol is ports[i].port.protocol
            and ports[j + 1].port.port == _number(ports[j]) + 1
        ):
            j += 1
        if j - i + 1 >= _RUN:
            first, last = ports[i].port, ports[j].port
            out.append(
                f"ports[{first.index}-{last.index}] {first.protocol.value} "
                f"{first.port}-{last.port} ({j - i + 1} ports): the connection is to "
                f"{protocol.value} {port}"
            )
        else:
            out += [port_outcome(p, protocol, port) for p in ports[i : j + 1]]
        i = j + 1
    return out


def _plain_miss(po: PortOutcome) -> bool:
    """A single numbered port of the asked protocol that is simply another number."""
    return (
        isinstance(po.port.port, int)
        and po.port.end_port is None
        and po.match.result is Tri.NO
        and po.match.miss is PortMiss.NUMBER
    )


def _number(po: PortOutcome) -> int:
    return po.port.port if isinstance(po.port.port, int) else -1
