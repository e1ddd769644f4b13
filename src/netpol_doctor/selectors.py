"""Matching primitives with three-valued answers: label selectors, ipBlocks, ports.

Each function answers YES / NO / UNKNOWN and says why, in data: the failed selector
requirement and the label actually found, the `except` range that caught an address,
the port or protocol that differed. Wording is left to the renderers.
Imports only `model`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from .model import (
    ContainerPort,
    IPAddress,
    IPBlock,
    IPNetwork,
    LabelSelector,
    Operator,
    PolicyPort,
    Protocol,
    Requirement,
)

__all__ = [
    "IPMatch",
    "IPMiss",
    "LabelMiss",
    "PortMatch",
    "PortMiss",
    "SelectorMatch",
    "Tri",
    "match_ip_block",
    "match_port",
    "match_requirement",
    "match_selector",
    "tri_all",
    "tri_any",
]


class Tri(Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


def tri_all(values: Iterable[Tri]) -> Tri:
    """Three-valued AND: any NO decides; otherwise any UNKNOWN leaves it open."""
    seen_unknown = False
    for v in values:
        if v is Tri.NO:
            return Tri.NO
        if v is Tri.UNKNOWN:
            seen_unknown = True
    return Tri.UNKNOWN if seen_unknown else Tri.YES


def tri_any(values: Iterable[Tri]) -> Tri:
    """Three-valued OR: any YES decides (policies are additive, NP-3)."""
    seen_unknown = False
    for v in values:
        if v is Tri.YES:
            return Tri.YES
        if v is Tri.UNKNOWN:
            seen_unknown = True
    return Tri.UNKNOWN if seen_unknown else Tri.NO


# --- label selectors ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelMiss:
    """A requirement that did not hold, or could not be decided.

    `actual` is the object's value for the key (None: the key is absent);
    `unknown` means the object's labels for that key were never seen (NP-81).
    """

    requirement: Requirement
    actual: str | None
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class SelectorMatch:
    result: Tri
    misses: tuple[LabelMiss, ...] = ()


def match_requirement(req: Requirement, labels: Mapping[str, str]) -> bool:
    """SEL-3: `NotIn` and `DoesNotExist` hold for objects lacking the key (SEL-4 trap)."""
    value = labels.get(req.key)
    if req.operator is Operator.IN:
        return value is not None and value in req.values
    if req.operator is Operator.NOT_IN:
        return value is None or value not in req.values
    if req.operator is Operator.EXISTS:
        return value is not None
    return value is None


def match_selector(
    selector: LabelSelector,
    labels: Mapping[str, str],
    *,
    only_known_key: str | None = None,
) -> SelectorMatch:
    """Match a selector against labels; requirements are ANDed (SEL-2).

    `only_known_key`: for a namespace missing from the input only its
    `kubernetes.io/metadata.name` label is certain (NP-81); a requirement on any
    other key is UNKNOWN rather than guessed.
    """
    misses: list[LabelMiss] = []
    results: list[Tri] = []
    for req in selector.requirements:
        if only_known_key is not None and req.key != only_known_key:
            results.append(Tri.UNKNOWN)
            misses.append(LabelMiss(req, None, unknown=True))
            continue
        ok = match_requirement(req, labels)
        results.append(Tri.YES if ok else Tri.NO)
        if not ok:
            misses.append(LabelMiss(req, labels.get(req.key)))
    result = tri_all(results)
    # Once a certain NO exists, UNKNOWN misses are noise: the answer does not depend on them.
    if result is Tri.NO:
        misses = [m for m in misses if not m.unknown]
    return SelectorMatch(result, tuple(misses))


# --- ipBlock -----------------------------------------------------------------------


class IPMiss(Enum):
    FAMILY = "family"  # IPv4 block vs IPv6 address or the reverse (NP-50, NP-54)
    OUTSIDE = "outside"  # not in cidr
    EXCEPTED = "excepted"  # in cidr, but inside an except range


@dataclass(frozen=True, slots=True)
class IPMatch:
    matched: bool
    address: IPAddress | None
    miss: IPMiss | None = None
    except_range: IPNetwork | None = None


def in_ip_block(block: IPBlock, address: IPAddress) -> bool:
    """NP-50 for one address, without the explanation match_ip_block builds."""
    return (
        address.version == block.cidr.version
        and address in block.cidr
        and not any(address in e for e in block.excepts)
    )


def match_ip_block(block: IPBlock, addresses: Iterable[IPAddress]) -> IPMatch:
    """NP-50: ip in cidr and in no except range. With several addresses (dual-stack,
    NP-54) any matching one matches; the reported miss is the most telling one."""
    best: IPMatch | None = None
    rank = {IPMiss.FAMILY: 0, IPMiss.OUTSIDE: 1, IPMiss.EXCEPTED: 2}
    for addr in addresses:
        if addr.version != block.cidr.version:
            cand = IPMatch(False, addr, IPMiss.FAMILY)
        elif addr not in block.cidr:
            cand = IPMatch(False, addr, IPMiss.OUTSIDE)
        else:
            hit = next((e for e in block.excepts if addr in e), None)
            if hit is None:
                return IPMatch(True, addr)
            cand = IPMatch(False, addr, IPMiss.EXCEPTED, hit)
        assert cand.miss is not None
        if best is None or (best.miss is not None and rank[cand.miss] > rank[best.miss]):
            best = cand
    return best or IPMatch(False, None, IPMiss.OUTSIDE)


# --- ports -------------------------------------------------------------------------


class PortMiss(Enum):
    PROTOCOL = "protocol"  # the rule is for another protocol (NP-70)
    NUMBER = "number"  # a different port number
    RANGE = "range"  # outside port..endPort
    NAME_MISSING = "name-missing"  # no containerPort of that name on the destination (NP-64)
    NAME_OTHER_NUMBER = "name-other-number"  # the name resolves, to another number
    NAME_OTHER_PROTOCOL = "name-other-protocol"  # the name exists with another protocol
    NAME_NOT_A_POD = "name-not-a-pod"  # named port vs an IP destination (NP-65)


@dataclass(frozen=True, slots=True)
class PortMatch:
    result: Tri
    miss: PortMiss | None = None
    #: for named ports: what the name resolved to on the destination pod
    resolved: tuple[ContainerPort, ...] = ()


def match_port(
    spec: PolicyPort,
    protocol: Protocol,
    port: int,
    destination_ports: tuple[ContainerPort, ...] | None,
) -> PortMatch:
    """Does one `ports[]` item admit (protocol, port) on the destination?

    `destination_ports` are the containerPorts of the destination pod (NP-64: a named
    port resolves on the destination, for egress too), or None when the destination
    is not a pod (node, external IP), where a named port matches nothing (NP-65).
    """
    if spec.protocol is not protocol:
        if isinstance(spec.port, str) and destination_ports is not None:
            # The trap of NP-64: `port: dns` defaults to TCP while the pod names UDP 53.
            named = tuple(cp for cp in destination_ports if cp.name == spec.port)
            if any(cp.protocol is protocol and cp.port == port for cp in named):
                return PortMatch(Tri.NO, PortMiss.NAME_OTHER_PROTOCOL, named)
        return PortMatch(Tri.NO, PortMiss.PROTOCOL)
    if spec.port is None:  # NP-61: every port of that protocol
        return PortMatch(Tri.YES)
    if isinstance(spec.port, int):
        if spec.end_port is not None:
            ok = spec.port <= port <= spec.end_port
            return PortMatch(Tri.YES) if ok else PortMatch(Tri.NO, PortMiss.RANGE)
        return PortMatch(Tri.YES) if spec.port == port else PortMatch(Tri.NO, PortMiss.NUMBER)
    if destination_ports is None:
        return PortMatch(Tri.NO, PortMiss.NAME_NOT_A_POD)
    named = tuple(cp for cp in destination_ports if cp.name == spec.port)
    if not named:
        return PortMatch(Tri.NO, PortMiss.NAME_MISSING)
    # NP-66: a name may resolve to several (port, protocol) pairs across containers.
    if any(cp.protocol is protocol and cp.port == port for cp in named):
        return PortMatch(Tri.YES, resolved=named)
    if any(cp.protocol is protocol for cp in named):
        return PortMatch(Tri.NO, PortMiss.NAME_OTHER_NUMBER, named)
    return PortMatch(Tri.NO, PortMiss.NAME_OTHER_PROTOCOL, named)
