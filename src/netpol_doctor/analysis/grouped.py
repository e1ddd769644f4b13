"""`matrix --by workload`: the all-ports sweep read per group of pods (workloads, or
one pod each for `--by pod`) and per outside address block, each cell a verdict per
port group.

A group pair's verdict on a port is the aggregation `diagnose` uses for many pairs
(`diagnose.aggregate`): allowed only if every pod pair is allowed, denied if any pod
pair is denied, else unknown. A denied cell where some pod pairs are allowed is
*partial* (replicas that differ), kept apart so words can say so. A pod's pair with
itself is left out (always allowed, NP-93): a one-pod workload has no pairs with
itself, and its cell is empty.

Counts come from the class tables, never a pod-level matrix: for each port group,
(group x class) counts @ class table @ (class x group) counts, then the pod-level
exceptions (a pod with its own node) moved over; O(groups x classes) per port group.

Every port any pod declares or any rule names is swept, plus, per protocol, one port
no rule names and no pod declares ("other ports"), so "all" means every port.

Address blocks: each ipBlock some policy names becomes one endpoint, evaluated at one
representative address inside it (outside its excepts and not a pod's or node's
address) with the layered engine, once per pod class and port group.

Imports `model`, `engine`, `layers`, `matrix`, `snapshot`, `cni`, `analysis.workloads`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any

import numpy as np

from ..cni import CniInfo, detect_cni, semantics_for
from ..engine import Endpoint, EndpointKind, Verdict
from ..layers import evaluate_flow
from ..matrix import ALLOWED, DENIED, UNKNOWN, PortSweep, all_ports, compute_port_sweep
from ..model import Direction, IPAddress, IPBlock, NetworkPolicy, Pod, Protocol
from ..selectors import Tri, match_port, match_selector
from ..snapshot import Snapshot
from ..targets import endpoint_for_pod
from .workloads import WorkloadRef, group_pods

__all__ = [
    "ALLOWED",
    "DENIED",
    "EMPTY",
    "PARTIAL",
    "UNKNOWN",
    "Cell",
    "GroupMatrix",
    "Member",
    "SweptPort",
    "compute_grouped",
]

#: cell codes beyond the verdict codes: some pairs allowed, some denied; no pod pairs
PARTIAL, EMPTY = 3, 4

_SWEPT_PROTOCOLS = (Protocol.TCP, Protocol.UDP, Protocol.SCTP)


@dataclass(frozen=True, slots=True)
class SweptPort:
    protocol: Protocol
    #: None: every port no rule names and no pod declares ("other ports")
    port: int | None

    @property
    def label(self) -> str:
        return f"{self.protocol.value}/{'other' if self.port is None else self.port}"


@dataclass(frozen=True, slots=True)
class Member:
    """One row/column: a workload (or pod, or node), or an outside address block."""

    key: str
    kind: str  # Deployment, StatefulSet, ..., Pod, Node, IPBlock
    namespace: str | None
    pods: int
    #: for an IPBlock: the block and the address it was evaluated at
    block: IPBlock | None = None
    address: IPAddress | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    allowed: tuple[SweptPort, ...]
    unknown: tuple[SweptPort, ...]
    #: denied for some pod pairs, allowed for others
    partial: tuple[SweptPort, ...]
    denied: tuple[SweptPort, ...]

    @property
    def empty(self) -> bool:
        return not (self.allowed or self.unknown or self.partial or self.denied)

    @property
    def verdict(self) -> Verdict | None:
        """Any port allowed: allowed; else any undecided: unknown; None when empty."""
        if self.empty:
            return None
        if self.allowed:
            return Verdict.ALLOWED
        if self.unknown:
            return Verdict.UNKNOWN
        return Verdict.DENIED


@dataclass
class GroupMatrix:
    members: list[Member]
    ports: list[SweptPort]
    #: port indices of each port group (ports no rule tells apart)
    groups: list[tuple[int, ...]]
    #: [source member, destination member, port group]: ALLOWED/DENIED/UNKNOWN/PARTIAL/EMPTY
    codes: Any
    #: pods in scope, and each pod's member index
    pods: tuple[Pod, ...] = ()
    member_of: Any = None

    def cell(self, i: int, j: int) -> Cell:
        by_code: dict[int, list[SweptPort]] = {c: [] for c in range(5)}
        for g, ports in enumerate(self.groups):
            by_code[int(self.codes[i, j, g])].extend(self.ports[k] for k in ports)

        def ordered(xs: list[SweptPort]) -> tuple[SweptPort, ...]:
            return tuple(sorted(xs, key=_port_order))

        return Cell(
            ordered(by_code[ALLOWED]),
            ordered(by_code[UNKNOWN]),
            ordered(by_code[PARTIAL]),
            ordered(by_code[DENIED]),
        )

    def verdicts(self) -> Any:
        """[source, destination] int8: 1 some port allowed, 2 none allowed but some
        unknown or partial, 0 every port denied, -1 no pairs."""
        c = self.codes
        out = np.zeros(c.shape[:2], dtype=np.int8)
        out[(c == UNKNOWN).any(axis=2) | (c == PARTIAL).any(axis=2)] = 2
        out[(c == ALLOWED).any(axis=2)] = 1
        out[(c == EMPTY).all(axis=2)] = -1
        return out


def _port_order(p: SweptPort) -> tuple[str, int]:
    return (p.protocol.value, 65536 if p.port is None else p.port)


def other_ports(snapshot: Snapshot) -> list[tuple[Protocol, int]]:
    """Per protocol, one port no rule names (numerically or through a range) and no
    pod declares: it stands for every such port."""
    used = set(all_ports(snapshot))
    specs = [
        spec
        for p in snapshot.policies
        for rule in (*p.ingress, *p.egress)
        for spec in rule.ports
        if not isinstance(spec.port, str)
    ]
    out = []
    for proto in _SWEPT_PROTOCOLS:
        for port in range(65535, 0, -1):
            if (proto, port) in used:
                continue
            if any(match_port(s, proto, port, None).result is not Tri.NO for s in specs):
                continue
            out.append((proto, port))
            break
    return out


def compute_grouped(
    snapshot: Snapshot,
    by: str = "workload",
    namespaces: Sequence[str] = (),
    cni: CniInfo | None = None,
    blocks: bool = True,
) -> GroupMatrix:
    """`by`: "workload" or "pod"."""
    cni = cni or detect_cni(snapshot)
    others = other_ports(snapshot)
    sweep = compute_port_sweep(snapshot, namespaces, cni, [*all_ports(snapshot), *others])
    pods = sweep.pods
    if by == "pod":
        members = [Member(p.key, "Node" if p.host_network else "Pod", p.namespace, 1) for p in pods]
        member_of = np.arange(len(pods), dtype=np.int64)
    else:
        refs, index = group_pods(snapshot, pods)
        sizes = np.bincount(np.array(index, dtype=np.int64), minlength=len(refs))
        members = [_member(w, int(n)) for w, n in zip(refs, sizes.tolist(), strict=True)]
        member_of = np.array(index, dtype=np.int64)
    other_set = set(others)
    ports = [SweptPort(pr, None if (pr, n) in other_set else n) for pr, n in sweep.ports]
    position = {(p[0], p[1]): k for k, p in enumerate(sweep.ports)}
    groups = [tuple(position[p] for p in g) for g, _ in sweep.groups]
    codes = np.full((len(members), len(members), len(groups)), EMPTY, dtype=np.uint8)
    for g, (_, m) in enumerate(sweep.groups):
        codes[:, :, g] = _group_codes(m.class_of, m.table, m.patches, member_of, len(members))
    gm = GroupMatrix(members, ports, groups, codes, pods, member_of)
    if blocks:
        _add_blocks(snapshot, gm, sweep, semantics_for(cni))
    return gm


def _member(w: WorkloadRef, pods: int) -> Member:
    return Member(w.key, w.kind, w.namespace, pods)


def _group_codes(
    class_of: Any, table: Any, patches: dict[tuple[int, int], int], member_of: Any, n: int
) -> Any:
    """[source member, destination member] cell codes for one port group."""
    if not len(class_of):
        return np.full((n, n), EMPTY, dtype=np.uint8)
    n_cls = table.shape[0]
    # (member, class) pairs with their pod counts, sorted by member; every member has a
    # pod, so the pairs' members run through 0..n-1
    uniq, cnt = np.unique(member_of * n_cls + class_of, return_counts=True)
    pm, pc = uniq // n_cls, uniq % n_cls
    starts = np.flatnonzero(np.r_[True, pm[1:] != pm[:-1]])
    one_each = len(pm) == n  # each member's pods in one class: no sums needed
    sub = table[np.ix_(pc, pc)]  # [pair, pair] verdict codes
    weight = np.outer(cnt, cnt).astype(np.int32)
    counts = np.zeros((n, n, 3), dtype=np.int32)
    for code in (ALLOWED, UNKNOWN):
        x = np.where(sub == code, weight, 0)
        if not one_each:
            x = np.add.reduceat(np.add.reduceat(x, starts, axis=0), starts, axis=1)
        counts[..., code] = x
    size = np.bincount(member_of, minlength=n).astype(np.int32)
    total = np.outer(size, size)
    # a pod with itself is not a pair between pods
    self_code = table[class_of, class_of]
    for code in (ALLOWED, UNKNOWN):
        hit = member_of[self_code == code]
        np.add.at(counts[..., code], (hit, hit), -1)
    np.add.at(total, (member_of, member_of), -1)
    if patches:
        keys = np.array(list(patches), dtype=np.int64).reshape(-1, 2)
        new = np.fromiter(patches.values(), dtype=np.int64, count=len(patches))
        off = keys[:, 0] != keys[:, 1]
        src, dst, new = keys[off, 0], keys[off, 1], new[off]
        old = table[class_of[src], class_of[dst]].astype(np.int64)
        a, b = member_of[src], member_of[dst]
        np.add.at(counts, (a, b, old), -1)
        np.add.at(counts, (a, b, new), 1)
    counts[..., DENIED] = total - counts[..., ALLOWED] - counts[..., UNKNOWN]
    return _finalize(counts)


# --- outside address blocks --------------------------------------------------------


def _blocks(snapshot: Snapshot) -> list[IPBlock]:
    seen: dict[IPBlock, None] = {}
    for p in snapshot.policies:
        for rule in (*p.ingress, *p.egress):
            for peer in rule.peers or ():
                if peer.ip_block is not None:
                    seen.setdefault(peer.ip_block, None)
    return list(seen)


def representative(snapshot: Snapshot, block: IPBlock) -> IPAddress | None:
    """An address in the block, outside its excepts, that no pod or node has; None if
    the candidates tried are all taken."""
    net = block.cidr
    size = net.num_addresses
    offsets = [1, size // 2 + 1, size - 2, 0] if size > 2 else [0, size - 1]
    for off in offsets:
        if not 0 <= off < size:
            continue
        ip = net.network_address + off
        if any(ip in e for e in block.excepts):
            continue
        if ip in snapshot.pods_by_ip or ip in snapshot.node_by_ip:
            continue
        return ip
    return None


def _add_blocks(snapshot: Snapshot, gm: GroupMatrix, sweep: PortSweep, sem: Any) -> None:
    found = []
    for block in _blocks(snapshot):
        ip = representative(snapshot, block)
        if ip is not None and ip_network(block.cidr).version == ip.version:
            found.append((block, ip))
    if not found:
        return
    n, k, n_groups = len(gm.members), len(found), len(gm.groups)
    # pair counts by verdict code: [block, member, group, code] each way
    out_counts = np.zeros((k, n, n_groups, 3), dtype=np.int64)  # block -> member
    in_counts = np.zeros((k, n, n_groups, 3), dtype=np.int64)  # member -> block
    by_ns: dict[str, list[tuple[int, NetworkPolicy]]] = defaultdict(list)
    for x, p in enumerate(snapshot.policies):
        by_ns[p.namespace].append((x, p))
    pod_keys: dict[int, tuple[object, object]] = {}
    for g, (ports, m) in enumerate(sweep.groups):
        proto, port = ports[0]
        # one pod per class; classes that policies select alike answer alike
        first: dict[int, int] = {}
        for i, c in enumerate(m.class_of.tolist()):
            first.setdefault(c, i)
        n_cls = int(m.class_of.max()) + 1 if len(m.class_of) else 0
        keys = {}
        for c, i in first.items():
            if i not in pod_keys:
                pod_keys[i] = _side_keys(snapshot, sweep.pods[i], by_ns)
            keys[c] = pod_keys[i]
        for b, (_block, ip) in enumerate(found):
            ext = Endpoint(EndpointKind.EXTERNAL, None, (ip,))
            seen: dict[object, int] = {}
            out_code = np.zeros(n_cls, dtype=np.int64)
            in_code = np.zeros(n_cls, dtype=np.int64)
            for c, i in first.items():
                ingress_key, egress_key = keys[c]
                ep = endpoint_for_pod(snapshot, sweep.pods[i])
                for key, arr, src, dst in (
                    (("in", ingress_key), out_code, ext, ep),
                    (("out", egress_key), in_code, ep, ext),
                ):
                    code = seen.get(key)
                    if code is None:
                        verdict = evaluate_flow(snapshot, src, dst, proto, port, sem).verdict
                        code = seen[key] = _code(verdict)
                    arr[c] = code
            np.add.at(out_counts[b, :, g], (gm.member_of, out_code[m.class_of]), 1)
            np.add.at(in_counts[b, :, g], (gm.member_of, in_code[m.class_of]), 1)
    out_codes = _finalize(out_counts)
    in_codes = _finalize(in_counts).transpose(1, 0, 2)
    _extend(gm, found, out_codes, in_codes)


def _side_keys(
    snapshot: Snapshot, pod: Pod, by_ns: dict[str, list[tuple[int, NetworkPolicy]]]
) -> tuple[object, object]:
    """What decides traffic between this pod and an outside address, per direction
    (ingress from it, egress to it): whether policies isolate the pod, and the rules
    of those policies that can admit an address -- rules with no peer list and the
    ipBlock peers with their ports; pod and namespace selectors never match an address
    outside the cluster. From outside, named ports resolve on this pod: its ports
    count too. Pods with equal keys get equal verdicts, so each key is evaluated once.
    With other policy families in the input every pod is its own key (their rules read
    more than NetworkPolicy's)."""
    if snapshot.extended:
        return (pod.key,), (pod.key,)
    if pod.host_network:
        return ("host", pod.node_name), ("host", pod.node_name)
    ns = pod.namespace
    if snapshot.is_unreadable("networkpolicies", ns):
        return ("unreadable", ns), ("unreadable", ns)
    labels = pod.label_map
    selecting = [
        p for _, p in by_ns.get(ns, ()) if match_selector(p.pod_selector, labels).result is Tri.YES
    ]
    if len(selecting) != sum(
        1
        for _, p in by_ns.get(ns, ())
        if match_selector(p.pod_selector, labels).result is not Tri.NO
    ):
        return (pod.key,), (pod.key,)  # a selector we cannot decide: no sharing

    def side(direction: Direction) -> object:
        isolated = any(p.controls(direction) for p in selecting)
        rules: set[object] = set()
        for p in selecting:
            if not p.controls(direction):
                continue
            for rule in p.rules(direction):
                if rule.peers is None:
                    rules.add((None, rule.ports))
                    continue
                blocks = tuple(sorted(str(x.ip_block) for x in rule.peers if x.ip_block))
                if blocks:
                    rules.add((blocks, rule.ports))
        return (isolated, frozenset(rules))

    ports = tuple((cp.name, cp.port, cp.protocol) for cp in pod.ports)
    return (side(Direction.INGRESS), ports), (side(Direction.EGRESS),)


def _code(v: Verdict) -> int:
    return {Verdict.ALLOWED: ALLOWED, Verdict.DENIED: DENIED, Verdict.UNKNOWN: UNKNOWN}[v]


def _finalize(counts: Any) -> Any:
    """Pair counts [..., code] -> cell codes, by the rule `_group_codes` applies."""
    allowed, unknown, denied = (counts[..., c] for c in (ALLOWED, UNKNOWN, DENIED))
    out = np.full(allowed.shape, ALLOWED, dtype=np.uint8)
    out[unknown > 0] = UNKNOWN
    out[denied > 0] = DENIED
    out[(denied > 0) & (allowed > 0)] = PARTIAL
    out[(allowed + unknown + denied) == 0] = EMPTY
    return out


def _extend(
    gm: GroupMatrix, found: list[tuple[IPBlock, IPAddress]], out_codes: Any, in_codes: Any
) -> None:
    n, k, g = len(gm.members), len(found), len(gm.groups)
    codes = np.full((n + k, n + k, g), EMPTY, dtype=np.uint8)
    codes[:n, :n] = gm.codes
    codes[n:, :n] = out_codes
    codes[:n, n:] = in_codes
    gm.codes = codes
    gm.members = gm.members + [
        Member(str(block), "IPBlock", None, 0, block, ip) for block, ip in found
    ]
