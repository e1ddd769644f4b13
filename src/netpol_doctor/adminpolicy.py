"""Admin tiers (policy.networking.k8s.io): AdminNetworkPolicy and
BaselineAdminNetworkPolicy (v1alpha1) and ClusterNetworkPolicy (v1alpha2), compiled
once and evaluated in the order SEMANTICS.md §3 gives (ADM-10): Admin tier by
priority, then NetworkPolicy, then the Baseline tier, then allow.

Imports `model`, `selectors`, `snapshot`, `engine`, `findings`, `parse`, `extended`,
`validation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any

from .engine import Endpoint, EndpointKind
from .extended import Action, FamilyVerdict, FlowSide, Step
from .findings import Finding, Severity
from .model import NAMESPACE_NAME_LABEL, Direction, IPNetwork, LabelSelector, ObjectRef, Protocol
from .parse import ExtendedObject, parse_selector
from .selectors import Tri, match_selector, tri_all, tri_any
from .validation import Level, show_value, validate_label_selector

__all__ = ["AdminPolicy", "after_network_policy", "before_network_policy", "compile", "direction"]

ADMIN, BASELINE = "Admin", "Baseline"
_ACTIONS = {"Allow": Action.ALLOW, "Accept": Action.ALLOW, "Deny": Action.DENY, "Pass": Action.PASS}


class _Invalid(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True, slots=True)
class PodsPeer:
    namespaces: LabelSelector  # {} = all namespaces
    pods: LabelSelector | None  # None: every pod of those namespaces


@dataclass(frozen=True, slots=True)
class AdminPort:
    protocol: Protocol | None  # None: named port (protocol from the pod's containerPort)
    start: int | None = None
    end: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AdminRule:
    index: int
    action: Action
    peers: tuple[PodsPeer | tuple[str, Any], ...]  # PodsPeer, ("nodes", LS), ("networks", nets)
    ports: tuple[AdminPort, ...] | None  # None: every port and protocol
    unknown_peer: bool = False  # a peer kind we do not know: fail closed (ADM-21)


@dataclass(frozen=True, slots=True)
class AdminPolicy:
    ref: ObjectRef
    tier: str  # Admin | Baseline
    priority: int
    subject: PodsPeer
    ingress: tuple[AdminRule, ...]
    egress: tuple[AdminRule, ...]

    def rules(self, direction: Direction) -> tuple[AdminRule, ...]:
        return self.ingress if direction is Direction.INGRESS else self.egress


# --- compiling ---------------------------------------------------------------------


def compile(objects: list[ExtendedObject]) -> tuple[list[AdminPolicy], list[Finding]]:
    out: list[AdminPolicy] = []
    findings: list[Finding] = []
    for obj in objects:
        if obj.api_group != "policy.networking.k8s.io":
            continue
        try:
            out.append(_policy(obj))
        except _Invalid as exc:
            msg = f"{exc} (the API server rejects this object: it does nothing)"
            findings.append(Finding("policy-invalid", Severity.ERROR, msg, (obj.ref,), exc.path))
    return out, findings


def _selector(raw: Any, path: str) -> LabelSelector:
    if raw is None:
        raw = {}
    errors = [v for v in validate_label_selector(raw, path) if v.level is Level.ERROR]
    if errors:
        raise _Invalid(errors[0].path, errors[0].message)
    return parse_selector(raw)


def _pods_peer(raw: Any, path: str, namespaced_only: bool) -> PodsPeer:
    if not isinstance(raw, dict):
        raise _Invalid(path, "expected a mapping")
    # A null field is absent: the API server prunes it (crd_validation).
    if raw.get("namespaces") is not None:
        return PodsPeer(_selector(raw["namespaces"], f"{path}.namespaces"), None)
    if isinstance(raw.get("pods"), dict):
        pods = raw["pods"]
        return PodsPeer(
            _selector(pods.get("namespaceSelector"), f"{path}.pods.namespaceSelector"),
            _selector(pods.get("podSelector"), f"{path}.pods.podSelector"),
        )
    raise _Invalid(path, "must set namespaces or pods")


def _policy(obj: ExtendedObject) -> AdminPolicy:
    spec = obj.raw.get("spec")
    if not isinstance(spec, dict):
        raise _Invalid("spec", "spec is missing")
    kind = obj.ref.kind
    if kind == "ClusterNetworkPolicy":
        tier = spec.get("tier")
        if tier not in (ADMIN, BASELINE):
            raise _Invalid("spec.tier", f"tier must be Admin or Baseline, not {show_value(tier)}")
    else:
        tier = ADMIN if kind == "AdminNetworkPolicy" else BASELINE
    priority = spec.get("priority")
    if priority is None and kind == "BaselineAdminNetworkPolicy":
        priority = 0  # one per cluster: it has no priority field
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 1000:
        raise _Invalid("spec.priority", f"priority must be 0-1000, not {show_value(priority)}")
    subject = _pods_peer(spec.get("subject"), "spec.subject", True)
    return AdminPolicy(
        obj.ref,
        tier,
        priority,
        subject,
        _rules(spec, Direction.INGRESS, kind),
        _rules(spec, Direction.EGRESS, kind),
    )


def _rules(spec: dict[str, Any], direction: Direction, kind: str) -> tuple[AdminRule, ...]:
    field = direction.rules_field
    raw = spec.get(field) or []
    if not isinstance(raw, list):
        raise _Invalid(f"spec.{field}", "expected a list")
    out = []
    for i, rule in enumerate(raw):
        path = f"spec.{field}[{i}]"
        if not isinstance(rule, dict):
            raise _Invalid(path, "expected a mapping")
        word = rule.get("action")
        action = _ACTIONS.get(word) if isinstance(word, str) else None
        if action is None or (kind == "BaselineAdminNetworkPolicy" and action is Action.PASS):
            raise _Invalid(f"{path}.action", f"action {show_value(word)} is not allowed here")
        peers_raw = rule.get(direction.peers_field) or []
        if not isinstance(peers_raw, list):
            raise _Invalid(f"{path}.{direction.peers_field}", "expected a list")
        peers: list[PodsPeer | tuple[str, Any]] = []
        unknown = False
        for j, p in enumerate(peers_raw):
            ppath = f"{path}.{direction.peers_field}[{j}]"
            has = set(k for k, v in p.items() if v is not None) if isinstance(p, dict) else set()
            if has & {"namespaces", "pods"}:
                peers.append(_pods_peer(p, ppath, False))
            elif "nodes" in has and direction is Direction.EGRESS:
                peers.append(("nodes", _selector(p["nodes"], f"{ppath}.nodes")))
            elif "networks" in has and direction is Direction.EGRESS:
                peers.append(("networks", _networks(p["networks"], f"{ppath}.networks")))
            else:
                unknown = True  # domainNames or a newer peer: fail closed (ADM-21, ADM-34)
        # Each version knows one of the two fields; the API server prunes the other.
        v2 = kind == "ClusterNetworkPolicy"
        ports = _ports(
            None if v2 else rule.get("ports"), rule.get("protocols") if v2 else None, path
        )
        out.append(AdminRule(i, action, tuple(peers), ports, unknown))
    return tuple(out)


def _networks(raw: Any, path: str) -> tuple[IPNetwork, ...]:
    if not isinstance(raw, list) or not raw:
        raise _Invalid(path, "expected a non-empty list of CIDRs")
    try:
        return tuple(ip_network(c if isinstance(c, str) else "?", strict=False) for c in raw)
    except ValueError as exc:
        raise _Invalid(path, str(exc)) from None


def _ports(ports: Any, protocols: Any, path: str) -> tuple[AdminPort, ...] | None:
    out: list[AdminPort] = []
    if ports is None and protocols is None:
        return None
    for field, items in (("ports", ports), ("protocols", protocols)):
        if not isinstance(items, list | None):
            raise _Invalid(f"{path}.{field}", "expected a list")
    for k, p in enumerate(ports or []):  # v1alpha1
        if not isinstance(p, dict):
            raise _Invalid(f"{path}.ports[{k}]", "expected a mapping")
        number, span, name = p.get("portNumber"), p.get("portRange"), p.get("namedPort")
        if isinstance(number, dict):
            port = _port_number(number.get("port"), f"{path}.ports[{k}].portNumber.port")
            out.append(AdminPort(_protocol(number, f"{path}.ports[{k}]"), port, port))
        elif isinstance(span, dict):
            where = f"{path}.ports[{k}].portRange"
            start, end = (
                _port_number(span.get("start"), where),
                _port_number(span.get("end"), where),
            )
            out.append(AdminPort(_protocol(span, where), start, end))
        elif isinstance(name, str):
            out.append(AdminPort(None, name=name))
        else:
            raise _Invalid(f"{path}.ports[{k}]", "set portNumber, portRange or namedPort")
    for k, p in enumerate(protocols or []):  # v1alpha2
        if not isinstance(p, dict):
            raise _Invalid(f"{path}.protocols[{k}]", "expected a mapping")
        if isinstance(p.get("destinationNamedPort"), str):
            out.append(AdminPort(None, name=p["destinationNamedPort"]))
            continue
        for proto in ("tcp", "udp", "sctp"):
            if p.get(proto) is None:
                continue
            where = f"{path}.protocols[{k}].{proto}"
            dport = p[proto].get("destinationPort") if isinstance(p[proto], dict) else None
            dport = dport if isinstance(dport, dict) else {}
            rng = dport.get("range")
            if dport.get("number") is not None:
                n = _port_number(dport["number"], f"{where}.destinationPort.number")
                out.append(AdminPort(Protocol(proto.upper()), n, n))
            elif isinstance(rng, dict):
                start = _port_number(rng.get("start"), f"{where}.destinationPort.range")
                end = _port_number(rng.get("end"), f"{where}.destinationPort.range")
                out.append(AdminPort(Protocol(proto.upper()), start, end))
            else:
                raise _Invalid(where, "destinationPort is required")
    return tuple(out)


def _port_number(raw: Any, path: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        raise _Invalid(path, f"expected a port number 1-65535, not {show_value(raw)}")
    return raw


def _protocol(raw: dict[str, Any], path: str) -> Protocol:
    value = raw.get("protocol") or "TCP"  # the CRD's default
    if value not in ("TCP", "UDP", "SCTP"):
        raise _Invalid(f"{path}.protocol", f"protocol {show_value(value)} is not TCP, UDP or SCTP")
    return Protocol(value)


# --- evaluating --------------------------------------------------------------------


def _namespace_match(ctx: FlowSide, sel: LabelSelector, namespace: str) -> Tri:
    ns = ctx.snapshot.namespace(namespace)
    known = NAMESPACE_NAME_LABEL if ns.synthesized else None
    return match_selector(sel, ns.label_map, only_known_key=known).result


def _selects(ctx: FlowSide, peer: PodsPeer, ep: Endpoint) -> Tri:
    """Subjects and pod peers are pod-network pods only (ADM-19)."""
    if ep.kind is not EndpointKind.POD or ep.pod is None:
        return Tri.NO
    ns = _namespace_match(ctx, peer.namespaces, ep.pod.namespace)
    pods = Tri.YES if peer.pods is None else match_selector(peer.pods, ep.pod.label_map).result
    return tri_all([ns, pods])


def _peer(ctx: FlowSide, peer: PodsPeer | tuple[str, Any], ep: Endpoint) -> Tri:
    if isinstance(peer, PodsPeer):
        return _selects(ctx, peer, ep)
    kind, value = peer
    if kind == "networks":  # ADM-32: any address of that family, pod IPs included
        return (
            Tri.YES
            if any(ip in net for ip in ep.ips for net in value if ip.version == net.version)
            else Tri.NO
        )
    node = (
        ctx.snapshot.nodes.get(ep.node or "")
        if ep.kind is EndpointKind.HOST and ep.pod is None
        else None
    )
    if ep.kind is EndpointKind.HOST and ep.pod is not None:
        node = ctx.snapshot.nodes.get(ep.pod.node_name or "")
    if node is None:
        return Tri.NO
    return match_selector(value, dict(node.labels)).result  # ADM-33


def _port(ctx: FlowSide, port: AdminPort) -> Tri:
    if port.name is not None:  # resolves on the destination pod
        dst = ctx.subject if ctx.direction is Direction.INGRESS else ctx.other
        if dst.kind is not EndpointKind.POD or dst.pod is None:
            return Tri.NO
        hit = any(
            cp.name == port.name and cp.protocol is ctx.protocol and cp.port == ctx.port
            for cp in dst.pod.ports
        )
        return Tri.YES if hit else Tri.NO
    ok = port.protocol is ctx.protocol and port.start is not None and port.end is not None
    return Tri.YES if ok and port.start <= ctx.port <= port.end else Tri.NO  # type: ignore[operator]


def _rule(ctx: FlowSide, rule: AdminRule) -> tuple[Tri, str]:
    if rule.unknown_peer:
        # ADM-21: a peer this version does not know matches nothing for Allow, and
        # everything for Deny/Pass.
        return (
            (Tri.NO, "unknown peer: matches nothing")
            if rule.action is Action.ALLOW
            else (
                Tri.YES,
                "unknown peer: treated as every peer (fail closed)",
            )
        )
    peer = tri_any(_peer(ctx, p, ctx.other) for p in rule.peers) if rule.peers else Tri.NO
    if ctx.protocol is Protocol.ICMP:
        ports = Tri.YES if rule.ports is None else Tri.NO
    else:
        ports = Tri.YES if rule.ports is None else tri_any(_port(ctx, p) for p in rule.ports)
    words = {Tri.YES: "matches", Tri.NO: "does not match", Tri.UNKNOWN: "may match"}
    return tri_all([peer, ports]), f"peers {words[peer]}, ports {words[ports]}"


def _tier(ctx: FlowSide, policies: tuple[object, ...], tier: str) -> FamilyVerdict:
    """First matching rule of the selecting policies, by priority then name."""
    chosen = sorted(
        (p for p in policies if isinstance(p, AdminPolicy) and p.tier == tier),
        key=lambda p: (p.priority, p.ref.name),
    )
    steps: list[Step] = []
    certainty = Tri.YES
    for p in chosen:
        selected = _selects(ctx, p.subject, ctx.subject)
        if selected is Tri.NO:
            continue
        for rule in p.rules(ctx.direction):
            matched, reason = _rule(ctx, rule)
            where = f"spec.{ctx.direction.rules_field}[{rule.index}]"
            note = f"{tier} tier, priority {p.priority}: {reason}"
            steps.append(Step(p.ref, where, rule.action, matched, note))
            if matched is Tri.YES and selected is Tri.YES:
                return FamilyVerdict(rule.action, certainty, tuple(steps))
            if matched is not Tri.NO:
                certainty = Tri.UNKNOWN  # it may have decided here: we cannot tell
    return FamilyVerdict(
        Action.NONE, certainty, tuple(steps), None if certainty is Tri.YES else "a rule may match"
    )


def before_network_policy(ctx: FlowSide) -> FamilyVerdict:
    """The Admin tier: ALLOW or DENY are final (ADM-13/14); PASS and NONE go on."""
    return _tier(ctx, ctx.policies, ADMIN)


def after_network_policy(ctx: FlowSide) -> FamilyVerdict:
    """The Baseline tier: seen only where no NetworkPolicy isolates the pod (ADM-16)."""
    verdict = _tier(ctx, ctx.policies, BASELINE)
    if verdict.action is Action.PASS:
        return FamilyVerdict(Action.NONE, verdict.certainty, verdict.steps, verdict.unknown_reason)
    return verdict


def direction(ctx: FlowSide) -> FamilyVerdict:
    """The whole order for one side: Admin, NetworkPolicy, Baseline, allow (ADM-10)."""
    admin = before_network_policy(ctx)
    if admin.action in (Action.ALLOW, Action.DENY):
        return admin
    np = ctx.network_policy
    steps = admin.steps
    if np.exemption is not None or np.isolated or np.unreadable:
        action = {Tri.YES: Action.ALLOW, Tri.NO: Action.DENY, Tri.UNKNOWN: Action.DENY}[np.result]
        certainty = tri_all([admin.certainty, Tri.UNKNOWN if np.result is Tri.UNKNOWN else Tri.YES])
        return FamilyVerdict(action, certainty, steps, admin.unknown_reason)
    baseline = after_network_policy(ctx)
    steps += baseline.steps
    certainty = tri_all([admin.certainty, baseline.certainty])
    action = baseline.action if baseline.action is not Action.NONE else Action.ALLOW
    reason = admin.unknown_reason or baseline.unknown_reason
    return FamilyVerdict(action, certainty, steps, reason)
