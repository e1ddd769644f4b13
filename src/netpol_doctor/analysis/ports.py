"""The ports worth sweeping (`matrix --all-ports`): every port a pod declares or a rule of
any policy family names. A range is sampled at both edges and once inside, so a rule that
admits only part of the span of another is seen.

Imports `model`, `snapshot`, `layers` (the compiled families).
"""

from __future__ import annotations

from ..layers import compiled_families
from ..model import Protocol
from ..snapshot import Snapshot

__all__ = ["family_ports", "span"]

#: Calico's protocol numbers for the protocols a port can belong to ([CAL-RULE])
_CALICO_PROTOCOLS = {6: Protocol.TCP, 17: Protocol.UDP, 132: Protocol.SCTP}
_CILIUM_PROTOCOLS: dict[str, tuple[Protocol, ...]] = {
    "TCP": (Protocol.TCP,),
    "UDP": (Protocol.UDP,),
    "SCTP": (Protocol.SCTP,),
    "ANY": (Protocol.TCP, Protocol.UDP, Protocol.SCTP),  # CIL-50
}


def span(start: int, end: int | None) -> set[int]:
    """Both edges of a range and one port inside it."""
    if end is None or end <= start:
        return {start}
    return {start, end, (start + end) // 2}


def family_ports(snapshot: Snapshot) -> set[tuple[Protocol, int]]:
    """Ports named by AdminNetworkPolicy / BaselineAdminNetworkPolicy /
    ClusterNetworkPolicy, Cilium and Calico rules (named ports resolve on the pods,
    which `matrix` sweeps already)."""
    admin, calico, cilium = compiled_families(snapshot)
    out: set[tuple[Protocol, int]] = set()
    for a in admin:
        for rule in (*a.ingress, *a.egress):
            for p in rule.ports or ():
                if p.protocol is not None and p.start is not None:
                    out |= {(p.protocol, n) for n in span(p.start, p.end)}
    for c in cilium:
        for r in c.rules:
            for items in r.lists:
                for pr in items:
                    for port_rule in pr.to_ports:
                        for s in port_rule.ports:
                            if not isinstance(s.port, int) or s.port == 0:
                                continue
                            for proto in _CILIUM_PROTOCOLS.get(s.protocol, ()):
                                out |= {(proto, n) for n in span(s.port, s.end_port)}
    for k in calico:
        for cr in (*k.ingress, *k.egress):
            calico_proto = _CALICO_PROTOCOLS.get(cr.protocol or 0)
            if calico_proto is None:
                continue
            for entity in (cr.source, cr.destination):
                for rng in (*entity.ports, *entity.not_ports):
                    if rng.name is None and rng.first:
                        out |= {(calico_proto, n) for n in span(rng.first, rng.last)}
    return out
