"""Evaluate one flow against `networking.k8s.io/v1` NetworkPolicy -> Decision.

A Decision carries the verdict and its whole explanation as data: per direction,
whether the subject is isolated and by which policies, and for every candidate rule
of every selecting policy, which peer and port matched or exactly why not
(SEMANTICS.md §1.1: allowed = source egress AND destination ingress). Pure
functions over a Snapshot; no wording, no I/O. Imports `model`, `selectors`,
`snapshot`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .model import (
    NAMESPACE_NAME_LABEL,
    ContainerPort,
    Direction,
    IPAddress,
    IPBlock,
    NetworkPolicy,
    ObjectRef,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Rule,
)
from .selectors import (
    IPMatch,
    PortMatch,
    SelectorMatch,
    Tri,
    match_ip_block,
    match_port,
    match_selector,
    tri_all,
    tri_any,
)
from .snapshot import Snapshot

__all__ = [
    "Decision",
    "DirectionResult",
    "Endpoint",
    "EndpointKind",
    "Exemption",
    "PeerMiss",
    "PeerOutcome",
    "RuleOutcome",
    "Semantics",
    "Verdict",
    "evaluate",
    "ip_peer_result",
    "selecting_policies",
]


class Verdict(Enum):
    ALLOWED = "allowed"
    DENIED = "denied"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, t: Tri) -> Verdict:
        return {Tri.YES: cls.ALLOWED, Tri.NO: cls.DENIED, Tri.UNKNOWN: cls.UNKNOWN}[t]


class EndpointKind(Enum):
    POD = "pod"  # a pod on the pod network: NetworkPolicy applies
    HOST = "host"  # a node, or a hostNetwork pod that acts as its node (NP-94)
    EXTERNAL = "external"  # an address outside the cluster's pods and nodes


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: EndpointKind
    pod: Pod | None = None
    ips: tuple[IPAddress, ...] = ()
    node: str | None = None

    @property
    def label(self) -> str:
        if self.pod is not None:
            return self.pod.display
        if self.kind is EndpointKind.HOST and self.node:
            return f"node/{self.node}"
        return "ip/" + ",".join(str(i) for i in self.ips)

    @property
    def namespace(self) -> str | None:
        return self.pod.namespace if self.pod is not None else None


@dataclass(frozen=True, slots=True)
class Semantics:
    """Behaviour SEMANTICS.md calls implementation-defined, fixed per detected CNI.

    UNKNOWN keeps the answer honest when the CNI is not known (never a false allow).
    """

    #: NP-51: does an ipBlock match pod IPs? e2e and Calico: yes; Cilium: no.
    ipblock_matches_pod_ips: Tri = Tri.UNKNOWN
    #: NP-92/CIL-31: does an ipBlock match node IPs? yes, except Cilium's default mode.
    ipblock_matches_node_ips: Tri = Tri.YES
    cni: str | None = None


class Exemption(Enum):
    """Why NetworkPolicy does not apply to a direction at all."""

    NOT_A_POD = "not-a-pod"  # external address: no policy of ours selects it
    HOST_NETWORK = "host-network"  # NP-94: hostNetwork pods are not selected
    OWN_NODE = "own-node"  # NP-90: from the pod's own node, always allowed in
    SELF = "self"  # NP-93: a pod cannot block itself


class PeerMiss(Enum):
    POD_LABELS = "pod-labels"  # podSelector does not match the pod's labels
    NAMESPACE_LABELS = "namespace-labels"  # namespaceSelector does not match ns labels
    NAMESPACE_LABELS_UNKNOWN = "namespace-labels-unknown"  # ns not in input (NP-81)
    OTHER_NAMESPACE = "other-namespace"  # podSelector-only peer: policy namespace only
    NOT_A_POD = "not-a-pod"  # a selector peer vs a node/hostNetwork/external address
    IP_BLOCK = "ip-block"  # address outside cidr, in an except range, other family
    POD_IP_IMPL_DEFINED = "pod-ip-impl-defined"  # ipBlock contains the pod IP (NP-51)
    POD_IP_EXCLUDED = "pod-ip-excluded"  # ...and the plugin never matches pod IPs (Cilium)
    NO_POD_IP = "no-pod-ip"  # a template pod has no IP to test against an ipBlock


@dataclass(frozen=True, slots=True)
class PeerOutcome:
    peer: Peer
    result: Tri
    misses: tuple[PeerMiss, ...] = ()
    pod_match: SelectorMatch | None = None
    namespace_match: SelectorMatch | None = None
    ip_match: IPMatch | None = None
    #: namespace of the endpoint tested, for wording ("pod is in payments")
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class PortOutcome:
    port: PolicyPort
    match: PortMatch


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One candidate rule. `rule` None: the policy has no rules in this direction."""

    policy: NetworkPolicy
    rule: Rule | None
    result: Tri
    peers_result: Tri = Tri.NO
    peers: tuple[PeerOutcome, ...] = ()
    ports_result: Tri = Tri.NO
    ports: tuple[PortOutcome, ...] = ()


@dataclass(frozen=True, slots=True)
class DirectionResult:
    direction: Direction
    subject: Endpoint
    result: Tri
    exemption: Exemption | None = None
    selecting: tuple[NetworkPolicy, ...] = ()  # select the subject, in any direction
    isolated_by: tuple[NetworkPolicy, ...] = ()  # select it and control this direction
    outcomes: tuple[RuleOutcome, ...] = ()
    #: the policies of the subject's namespace could not be read (live 403)
    unreadable: bool = False
    #: NP-91: egress from a pod to its own node is implementation-defined
    own_node_egress: bool = False
    #: NP-100: ICMP (and anything but TCP/UDP/SCTP) is undefined once isolated
    undefined_protocol: bool = False

    @property
    def isolated(self) -> bool:
        return bool(self.isolated_by)

    @property
    def admitted_by(self) -> tuple[RuleOutcome, ...]:
        return tuple(o for o in self.outcomes if o.result is Tri.YES)


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    source: Endpoint
    destination: Endpoint
    protocol: Protocol
    port: int
    egress: DirectionResult
    ingress: DirectionResult
    semantics: Semantics = field(default_factory=Semantics)
    #: policies of other families (Cilium, Calico, admin tiers) that may decide this
    #: flow; not evaluated yet, so an NP "allowed" becomes "unknown"
    extended: tuple[ObjectRef, ...] = ()
    #: policies of kinds the detected plugin does not implement: present, no effect (ADM-5)
    inert: tuple[ObjectRef, ...] = ()
    #: per side, what the evaluated policy families decided (layers.Layer objects; typed
    #: loosely because those modules build on this one)
    layers: tuple[Any, ...] = ()
    #: plugin unknown: the verdict if it implements the admin tiers (the `layers` are
    #: that reading), when it differs from NetworkPolicy's alone; None otherwise
    if_enforced: Verdict | None = None

    @property
    def network_policy_verdict(self) -> Verdict:
        """The verdict of standard NetworkPolicy alone."""
        return Verdict.of(tri_all([self.egress.result, self.ingress.result]))

    @property
    def self_traffic(self) -> bool:
        return self.ingress.exemption is Exemption.SELF


# --- evaluation --------------------------------------------------------------------


def selecting_policies(snapshot: Snapshot, pod: Pod) -> list[NetworkPolicy]:
    """Policies whose spec.podSelector selects the pod (NP-6: own namespace only)."""
    key = (selecting_policies, pod.namespace, pod.labels)
    found = snapshot.memo.get(key)
    if found is None:
        labels = pod.label_map
        found = snapshot.memo[key] = [
            p
            for p in snapshot.policies_by_namespace.get(pod.namespace, ())
            if match_selector(p.pod_selector, labels).result is Tri.YES
        ]
    return list(found)


def evaluate(
    snapshot: Snapshot,
    source: Endpoint,
    destination: Endpoint,
    protocol: Protocol,
    port: int,
    semantics: Semantics | None = None,
) -> Decision:
    """NP-4: a connection needs the source's egress AND the destination's ingress."""
    sem = semantics or Semantics()
    dst_ports = (
        destination.pod.ports if destination.kind is EndpointKind.POD and destination.pod else None
    )
    same_pod = (
        source.pod is not None
        and destination.pod is not None
        and source.pod.key == destination.pod.key
    )
    egress = _direction(
        snapshot, Direction.EGRESS, source, destination, protocol, port, dst_ports, sem, same_pod
    )
    ingress = _direction(
        snapshot, Direction.INGRESS, destination, source, protocol, port, dst_ports, sem, same_pod
    )
    verdict = Verdict.of(tri_all([egress.result, ingress.result]))
    extended = relevant_extended(snapshot, source, destination)
    if extended and verdict is Verdict.ALLOWED:
        verdict = Verdict.UNKNOWN  # never a false "allowed": those kinds can deny
    return Decision(verdict, source, destination, protocol, port, egress, ingress, sem, extended)


def relevant_extended(
    snapshot: Snapshot, source: Endpoint, destination: Endpoint
) -> tuple[ObjectRef, ...]:
    """Extended-family objects that can act on this flow: cluster-scoped ones, and
    namespaced ones in the source's or destination's namespace."""
    namespaces = {ns for ns in (source.namespace, destination.namespace) if ns is not None}
    present = [
        x.ref
        for x in snapshot.extended
        if (x.ref.namespace is None or x.ref.namespace in namespaces) and x.ref.kind != "Tier"
    ]
    return tuple(present + snapshot.unreadable_extended(namespaces))


def _direction(
    snapshot: Snapshot,
    direction: Direction,
    subject: Endpoint,
    other: Endpoint,
    protocol: Protocol,
    port: int,
    dst_ports: tuple[ContainerPort, ...] | None,
    sem: Semantics,
    same_pod: bool,
) -> DirectionResult:
    if subject.kind is not EndpointKind.POD or subject.pod is None:
        exemption = Exemption.HOST_NETWORK if subject.pod is not None else Exemption.NOT_A_POD
        return DirectionResult(direction, subject, Tri.YES, exemption)
    pod = subject.pod
    selecting = tuple(selecting_policies(snapshot, pod))
    isolated_by = tuple(p for p in selecting if p.controls(direction))
    if same_pod:
        return DirectionResult(direction, subject, Tri.YES, Exemption.SELF, selecting, isolated_by)
    if (
        direction is Direction.INGRESS
        and other.kind is EndpointKind.HOST
        and other.node is not None
        and other.node == pod.node_name
    ):
        return DirectionResult(
            direction, subject, Tri.YES, Exemption.OWN_NODE, selecting, isolated_by
        )
    if snapshot.is_unreadable("networkpolicies", pod.namespace):
        return DirectionResult(
            direction, subject, Tri.UNKNOWN, None, selecting, isolated_by, (), True
        )
    if not isolated_by:
        return DirectionResult(direction, subject, Tri.YES, None, selecting, ())  # NP-2
    outcomes: list[RuleOutcome] = []
    for policy in isolated_by:
        rules = policy.rules(direction)
        if not rules:  # NP-30: no rules = this policy admits nothing
            outcomes.append(RuleOutcome(policy, None, Tri.NO))
        for rule in rules:
            outcomes.append(_rule(snapshot, policy, rule, other, protocol, port, dst_ports, sem))
    result = tri_any(o.result for o in outcomes)
    if protocol is Protocol.ICMP:
        return DirectionResult(
            direction,
            subject,
            Tri.UNKNOWN,
            None,
            selecting,
            isolated_by,
            tuple(outcomes),
            undefined_protocol=True,
        )
    own_node = False
    if (
        direction is Direction.EGRESS
        and result is Tri.NO
        and other.kind is EndpointKind.HOST
        and other.node is not None
        and other.node == pod.node_name
    ):
        result, own_node = Tri.UNKNOWN, True  # NP-91
    return DirectionResult(
        direction, subject, result, None, selecting, isolated_by, tuple(outcomes), False, own_node
    )


def _rule(
    snapshot: Snapshot,
    policy: NetworkPolicy,
    rule: Rule,
    peer: Endpoint,
    protocol: Protocol,
    port: int,
    dst_ports: tuple[ContainerPort, ...] | None,
    sem: Semantics,
) -> RuleOutcome:
    if rule.peers is None:  # NP-32: no from/to = every peer
        peers: tuple[PeerOutcome, ...] = ()
        peers_result = Tri.YES
    else:
        peers = tuple(_peer(snapshot, policy, p, peer, sem) for p in rule.peers)
        peers_result = tri_any(p.result for p in peers)  # NP-34: items are OR
    if not rule.ports:  # NP-33: no ports = every port and protocol
        ports: tuple[PortOutcome, ...] = ()
        ports_result = Tri.YES
    else:
        ports = tuple(PortOutcome(p, match_port(p, protocol, port, dst_ports)) for p in rule.ports)
        ports_result = tri_any(p.match.result for p in ports)
    result = tri_all([peers_result, ports_result])
    return RuleOutcome(policy, rule, result, peers_result, peers, ports_result, ports)


def _peer(
    snapshot: Snapshot, policy: NetworkPolicy, peer: Peer, ep: Endpoint, sem: Semantics
) -> PeerOutcome:
    if peer.ip_block is not None:
        return _ip_peer(snapshot, peer, peer.ip_block, ep, sem)
    if ep.kind is not EndpointKind.POD or ep.pod is None:
        # NP-47/NP-94: selectors only ever match pod-network pods.
        return PeerOutcome(peer, Tri.NO, (PeerMiss.NOT_A_POD,), namespace=ep.namespace)
    pod = ep.pod
    results: list[Tri] = []
    misses: list[PeerMiss] = []
    ns_match: SelectorMatch | None = None
    if peer.namespace_selector is None:
        # NP-40: without namespaceSelector the peer is the policy's own namespace.
        if pod.namespace != policy.namespace:
            results.append(Tri.NO)
            misses.append(PeerMiss.OTHER_NAMESPACE)
    else:
        ns = snapshot.namespace(pod.namespace)
        ns_match = match_selector(
            peer.namespace_selector,
            ns.label_map,
            only_known_key=NAMESPACE_NAME_LABEL if ns.synthesized else None,
        )
        results.append(ns_match.result)
        if ns_match.result is Tri.NO:
            misses.append(PeerMiss.NAMESPACE_LABELS)
        elif ns_match.result is Tri.UNKNOWN:
            misses.append(PeerMiss.NAMESPACE_LABELS_UNKNOWN)
    pod_match: SelectorMatch | None = None
    if peer.pod_selector is not None:
        pod_match = match_selector(peer.pod_selector, pod.label_map)
        results.append(pod_match.result)
        if pod_match.result is Tri.NO:
            misses.append(PeerMiss.POD_LABELS)
    result = tri_all(results)  # NP-42: both selectors in one peer = AND
    return PeerOutcome(
        peer,
        result,
        tuple(misses) if result is not Tri.YES else (),
        pod_match,
        ns_match,
        None,
        pod.namespace,
    )


def _ip_peer(
    snapshot: Snapshot, peer: Peer, block: IPBlock, ep: Endpoint, sem: Semantics
) -> PeerOutcome:
    if ep.kind is EndpointKind.POD and ep.pod is not None and not ep.ips:
        # A template pod has no IP yet: the block can only match inside the pod CIDRs.
        possible = _may_cover_pod_cidrs(snapshot, block)
        result = tri_all([possible, sem.ipblock_matches_pod_ips])
        if possible is Tri.NO:
            misses: tuple[PeerMiss, ...] = (PeerMiss.IP_BLOCK,)  # outside every pod CIDR
        elif sem.ipblock_matches_pod_ips is Tri.NO:
            misses = (PeerMiss.POD_IP_EXCLUDED,)
        else:
            misses = () if result is Tri.YES else (PeerMiss.NO_POD_IP,)
        return PeerOutcome(peer, result, misses, namespace=ep.namespace)
    m = match_ip_block(block, ep.ips)
    if not m.matched:
        return PeerOutcome(peer, Tri.NO, (PeerMiss.IP_BLOCK,), ip_match=m, namespace=ep.namespace)
    if ep.kind is EndpointKind.POD:
        result = sem.ipblock_matches_pod_ips  # NP-51: implementation-defined
        misses = _POD_IP_MISSES[result]
        return PeerOutcome(peer, result, misses, ip_match=m, namespace=ep.namespace)
    if ep.kind is EndpointKind.HOST:
        result = sem.ipblock_matches_node_ips
        misses = () if result is Tri.YES else (PeerMiss.IP_BLOCK,)
        return PeerOutcome(peer, result, misses, ip_match=m, namespace=ep.namespace)
    return PeerOutcome(peer, Tri.YES, ip_match=m)


_POD_IP_MISSES: dict[Tri, tuple[PeerMiss, ...]] = {
    Tri.YES: (),
    Tri.NO: (PeerMiss.POD_IP_EXCLUDED,),
    Tri.UNKNOWN: (PeerMiss.POD_IP_IMPL_DEFINED,),
}


def ip_peer_result(snapshot: Snapshot, block: IPBlock, ep: Endpoint, sem: Semantics) -> Tri:
    """Does an ipBlock peer admit this endpoint (NP-50, NP-51, NP-92)?"""
    return _ip_peer(snapshot, Peer(0, ip_block=block), block, ep, sem).result


def _may_cover_pod_cidrs(snapshot: Snapshot, block: IPBlock) -> Tri:
    cidrs = [c for n in snapshot.nodes.values() for c in n.pod_cidrs]
    if not cidrs:
        return Tri.UNKNOWN
    for c in cidrs:
        if c.version != block.cidr.version or not c.overlaps(block.cidr):
            continue
        if not any(c.version == e.version and c.subnet_of(e) for e in block.excepts):  # type: ignore[arg-type]
            return Tri.UNKNOWN
    return Tri.NO
