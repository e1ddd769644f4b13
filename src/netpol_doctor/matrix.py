"""Many flows at once: the allowed / denied / unknown table for every (source,
destination) pod pair in scope, on one port. Same answers as `engine.evaluate`, pair
by pair (a test holds it to that), computed for clusters of 100,000 pods:

1. Pods that no selector, named port or ipBlock can tell apart (same namespace,
   labels under keys some podSelector reads -- a value no requirement names counts
   as "some other value" --, ports under names some rule names, hostNetwork (and
   node), ipBlock coverage) form one *class*. Labels no policy reads
   (pod-template-hash, a commit) never split a class.
2. Every selector is evaluated once per class (pod selectors) or namespace
   (namespace selectors), through a label index, as NumPy vectors; three-valued
   answers are two boolean planes (`yes`, and `maybe` = yes or unknown: Kleene logic
   keeps AND/OR exact).
3. Per namespace, "the subject's rules admit the other side" is a matrix product
   (subject classes x rules) @ (rules x classes), for egress and for ingress; each
   side is a level (0 no, 1 unknown, 2 yes) and a pair's verdict is the lower of its
   two sides (Kleene AND), so the class table is one uint8 array.
4. Pod pairs are read from the class table on demand; the few pod-level exceptions
   (a pod to itself, traffic with the pod's own node) are patched per pod. Summary
   counts weigh class pairs by their sizes: no pod-level matrix is ever built.

Imports `model`, `selectors`, `snapshot`, `engine`, `targets`, `cni`.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from typing import Any

import numpy as np

from .analysis.ports import family_ports, span
from .cni import CniInfo, detect_cni, semantics_for
from .engine import Semantics, Verdict, ip_peer_result
from .layers import evaluate_flow, inert_kinds, sweeps_pairwise
from .model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    Operator,
    Peer,
    Pod,
    PolicyPort,
    Protocol,
    Requirement,
)
from .policy import aws_limits
from .selectors import Tri, match_ip_block, match_port, match_selector
from .snapshot import Snapshot
from .targets import endpoint_for_pod

__all__ = [
    "ALLOWED",
    "CODES",
    "DENIED",
    "UNKNOWN",
    "Matrix",
    "PortSweep",
    "all_ports",
    "compute_matrix",
    "compute_port_sweep",
    "pods_in_scope",
]

DENIED, ALLOWED, UNKNOWN = 0, 1, 2
#: verdict code -> Verdict
CODES = (Verdict.DENIED, Verdict.ALLOWED, Verdict.UNKNOWN)
#: how far one side (egress of the source, ingress of the destination) admits a pair:
#: ordered, so the pair's level is the lower of its two sides
_NO, _MAYBE, _YES = 0, 1, 2


def _codes_of_levels(levels: Any) -> None:
    """In place, level -> verdict code: 0 -> DENIED (0), 1 -> UNKNOWN (2), 2 -> ALLOWED
    (1), i.e. the two bits swapped; bit operations, as a lookup table (np.take) took
    ~5x longer on a cached tile."""
    high = levels >> 1
    levels <<= 1
    levels |= high
    levels &= 3


Bools = Any  # np.ndarray of bool: numpy's generic aliases add nothing for readers here


_LabelIndex = dict[str, dict[str, list[int]]]

#: isolated [subject], governs [subject, rule], peer yes/maybe [rule, class], rule ports
_Rules = tuple[Bools, Bools, Bools, Bools, list[tuple[PolicyPort, ...]]]


@dataclass(frozen=True, slots=True)
class _Class:
    rep: Pod
    ns: int  # index into namespaces
    host: bool  # hostNetwork: not selectable, seen as its node


@dataclass
class Matrix:
    port: int
    protocol: Protocol
    pods: tuple[Pod, ...]
    cni: CniInfo
    #: class of each pod, and the class-level verdict codes [source class, dest class]
    class_of: Any
    table: Any
    #: pod-level exceptions: (source pod index, destination pod index) -> code
    patches: dict[tuple[int, int], int] = field(default_factory=dict)
    _by_row: dict[int, list[tuple[int, int]]] | None = None
    _ns_counts: tuple[list[str], Any] | None = None

    def row(self, i: int) -> Any:
        """Verdict codes from pod i to every pod (uint8 array)."""
        out = self.table[self.class_of[i]][self.class_of]
        for j, code in self._patches_by_row().get(i, ()):
            out[j] = code
        return out

    def rows(self) -> Iterator[Any]:
        for i in range(len(self.pods)):
            yield self.row(i)

    def verdict(self, i: int, j: int) -> Verdict:
        code = self.patches.get((i, j))
        if code is None:
            code = int(self.table[self.class_of[i], self.class_of[j]])
        return CODES[code]

    def _patches_by_row(self) -> dict[int, list[tuple[int, int]]]:
        if self._by_row is None:
            self._by_row = defaultdict(list)
            for (i, j), code in self.patches.items():
                self._by_row[i].append((j, code))
        return self._by_row

    def ns_counts(self) -> tuple[list[str], Any]:
        """The namespaces in scope (sorted) and int64 pair counts [source namespace,
        destination namespace, verdict code]: class pairs weighed by class sizes, then
        the pod-level exceptions moved over; O(classes^2), whatever the pod count."""
        if self._ns_counts is None:
            self._ns_counts = _ns_counts(self)
        return self._ns_counts

    def counts(self) -> dict[Verdict, int]:
        totals = self.ns_counts()[1].sum(axis=(0, 1))
        return {v: int(totals[code]) for code, v in enumerate(CODES)}

    def summary(self) -> dict[tuple[str, str], dict[Verdict, int]]:
        """Pair counts per (source namespace, destination namespace)."""
        namespaces, counts = self.ns_counts()
        return {
            (namespaces[a], namespaces[b]): {v: int(counts[a, b, c]) for c, v in enumerate(CODES)}
            for a, b in zip(*np.nonzero(counts.sum(axis=2)), strict=True)
        }


def _ns_counts(m: Matrix) -> tuple[list[str], Any]:
    namespaces = sorted({p.namespace for p in m.pods})
    index = {ns: k for k, ns in enumerate(namespaces)}
    n_cls, n_ns = m.table.shape[0], len(namespaces)
    counts = np.zeros((n_ns, n_ns, 3), dtype=np.int64)
    if not m.pods:
        return namespaces, counts
    pod_ns = np.array([index[p.namespace] for p in m.pods], dtype=np.int64)
    size = np.bincount(m.class_of, minlength=n_cls).astype(np.int64)
    cls_ns = np.zeros(n_cls, dtype=np.int64)
    cls_ns[m.class_of] = pod_ns  # a class never spans namespaces
    # Classes grouped by namespace (pods come sorted by key, so usually already);
    # one source namespace at a time: its rows weighed and summed (a loop of sums
    # beats reduceat over rows ~10x), then the columns per destination namespace.
    order = np.argsort(cls_ns, kind="stable")
    grouped = cls_ns[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    ends = np.r_[starts[1:], n_cls]
    identity = bool(np.array_equal(order, np.arange(n_cls)))
    # a namespace's sums stay below the pod count: int32 end to end, no casting
    row_size = size[order].astype(np.int32)[:, None]
    col_size = size[order]
    dst_ns = grouped[starts]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        rows = m.table[a:b] if identity else m.table[order[a:b]][:, order]
        for code in (ALLOWED, UNKNOWN):
            per_class = np.add.reduce((rows == code) * row_size[a:b], axis=0, dtype=np.int32)
            counts[grouped[a], dst_ns, code] = np.add.reduceat(per_class * col_size, starts)
    ns_size = np.bincount(pod_ns, minlength=n_ns).astype(np.int64)
    decided = counts[:, :, ALLOWED] + counts[:, :, UNKNOWN]
    counts[:, :, DENIED] = np.outer(ns_size, ns_size) - decided
    if m.patches:
        keys = np.array(list(m.patches), dtype=np.int64).reshape(-1, 2)
        new = np.fromiter(m.patches.values(), dtype=np.int64, count=len(m.patches))
        src, dst = keys[:, 0], keys[:, 1]
        old = m.table[m.class_of[src], m.class_of[dst]].astype(np.int64)
        np.add.at(counts, (pod_ns[src], pod_ns[dst], old), -1)
        np.add.at(counts, (pod_ns[src], pod_ns[dst], new), 1)
    return namespaces, counts


def pods_in_scope(snapshot: Snapshot, namespaces: Sequence[str] = ()) -> list[Pod]:
    wanted = set(namespaces)
    pods = [p for p in snapshot.pods if not p.finished and (not wanted or p.namespace in wanted)]
    return sorted(pods, key=lambda p: p.key)


def compute_matrix(
    snapshot: Snapshot,
    port: int,
    protocol: Protocol = Protocol.TCP,
    namespaces: Sequence[str] = (),
    cni: CniInfo | None = None,
) -> Matrix:
    cni = cni or detect_cni(snapshot)
    sem = semantics_for(cni)
    pods = pods_in_scope(snapshot, namespaces)
    if not cni.enforces_policy:
        return _all_allowed(pods, port, protocol, cni)
    if _exact_only(snapshot, cni):
        return _pairwise(snapshot, pods, port, protocol, cni, sem)
    ctx = _Context(snapshot, pods, sem, port, protocol)
    table = ctx.table()
    m = Matrix(port, protocol, tuple(pods), cni, ctx.class_of, table, ctx.patches(table))
    return _aws_limited(snapshot, m, sem)


def _exact_only(snapshot: Snapshot, cni: CniInfo) -> bool:
    """Pairs the pod classes cannot answer: admin-tier and other families' selectors
    read labels the classes do not keep."""
    return any(sweeps_pairwise(x, cni.name) for x in snapshot.extended)


def _aws_limited(snapshot: Snapshot, m: Matrix, sem: Semantics) -> Matrix:
    """CNI-10 holds per peer address, which the class table does not see: the `allowed`
    pairs where a subject's policies may hold more entries than the AWS agent keeps are
    evaluated as `diagnose` does and patched. Which rules name a peer is the same for
    every pod of a class, so one evaluation per class pair decides (pairs with a
    pod-level exemption, a pod to itself or its node, are evaluated alone). The entry
    count does not depend on the port: a sweep group's patches hold for all its ports."""
    if m.cni.name != aws_limits.AWS_CNI:
        return m
    subjects = aws_limits.overflow_subjects(snapshot, m.pods)
    if not subjects:
        return m
    eps = [endpoint_for_pod(snapshot, p) for p in m.pods]
    by_class: dict[tuple[int, int], bool] = {}
    patches = dict(m.patches)
    everyone = range(len(m.pods))
    ingress = [j for j, p in enumerate(m.pods) if (p.key, Direction.INGRESS) in subjects]
    for i, src in enumerate(m.pods):
        row = m.row(i)
        others = everyone if (src.key, Direction.EGRESS) in subjects else ingress
        for j in others:
            if row[j] != ALLOWED:
                continue
            key = (int(m.class_of[i]), int(m.class_of[j]))
            limited = by_class.get(key) if i != j else None
            if limited is None:
                d = evaluate_flow(snapshot, eps[i], eps[j], m.protocol, m.port, sem)
                limited = d.verdict is not Verdict.ALLOWED
                exempt = d.egress.exemption is not None or d.ingress.exemption is not None
                if not exempt:
                    by_class[key] = limited
            if limited:
                patches[(i, j)] = CODES.index(Verdict.UNKNOWN)
    return replace(m, patches=patches, _by_row=None, _ns_counts=None)


def _all_allowed(pods: list[Pod], port: int, protocol: Protocol, cni: CniInfo) -> Matrix:
    """What the data plane does when nothing enforces policy: every pair connects, as
    `diagnose` answers (cni-no-enforcement)."""
    table = np.full((1, 1), ALLOWED, dtype=np.uint8)
    return Matrix(port, protocol, tuple(pods), cni, np.zeros(len(pods), dtype=np.intp), table, {})


def _pairwise(
    snapshot: Snapshot, pods: list[Pod], port: int, protocol: Protocol, cni: CniInfo, sem: Semantics
) -> Matrix:
    """With admin-tier policies in force, every pair goes through the layered engine
    (their selectors read labels the pod classes do not keep): exact, not fast."""
    eps = [endpoint_for_pod(snapshot, p) for p in pods]
    table = np.array(
        [
            [CODES.index(evaluate_flow(snapshot, s, d, protocol, port, sem).verdict) for d in eps]
            for s in eps
        ],
        dtype=np.uint8,
    ).reshape(len(pods), len(pods))
    return Matrix(port, protocol, tuple(pods), cni, np.arange(len(pods)), table, {})


# --- classes and vectors -----------------------------------------------------------


class _Context:
    def __init__(
        self, snapshot: Snapshot, pods: list[Pod], sem: Semantics, port: int, protocol: Protocol
    ) -> None:
        self.snapshot, self.pods, self.sem = snapshot, pods, sem
        #: other policy families that may decide (inert ones, ADM-5, do not)
        self.pending = [x for x in snapshot.extended if not inert_kinds(x, sem.cni)]
        self.port, self.protocol = port, protocol
        self.namespaces = sorted({p.namespace for p in pods} | set(snapshot.namespaces))
        self.ns_index = {ns: k for k, ns in enumerate(self.namespaces)}
        self.blocks = _ip_blocks(snapshot.policies)
        self.block_index = {b: k for k, b in enumerate(self.blocks)}
        self.cover: Bools = None
        self.classes, self.class_of = self._classes()
        self.n = len(self.classes)
        self.ns_of = np.array([c.ns for c in self.classes], dtype=np.int64)
        self.pod_class = np.array([not c.host for c in self.classes], dtype=bool)
        self.label_index: _LabelIndex = defaultdict(lambda: defaultdict(list))
        for k, c in enumerate(self.classes):
            if not c.host:
                for key, value in c.rep.labels:
                    self.label_index[key][value].append(k)
        self.ns_label_index: _LabelIndex = defaultdict(lambda: defaultdict(list))
        self.synthesized: list[int] = []
        for k, name in enumerate(self.namespaces):
            ns = snapshot.namespace(name)
            if ns.synthesized:
                self.synthesized.append(k)
            for key, value in ns.labels:
                self.ns_label_index[key][value].append(k)
        self._with_ip = np.array([bool(c.rep.ips) for c in self.classes], dtype=bool)
        pod_ips, node_ips = sem.ipblock_matches_pod_ips, sem.ipblock_matches_node_ips
        self._pod_ips_yes, self._pod_ips_maybe = pod_ips is Tri.YES, pod_ips is not Tri.NO
        self._node_ips_yes, self._node_ips_maybe = node_ips is Tri.YES, node_ips is not Tri.NO
        self._ns_selector_cache: dict[LabelSelector, tuple[Bools, Bools]] = {}
        self._selector_cache: dict[LabelSelector, Bools] = {}
        self._peer_cache: dict[tuple[object, ...], tuple[Bools, Bools]] = {}
        self._named_cache: dict[tuple[object, Protocol], Bools] = {}
        self._ports_cache: dict[tuple[PolicyPort, ...], Bools] = {}
        self._rule_cache: dict[tuple[Direction, str], _Rules] = {}
        #: a port sweep reuses each namespace's rules for every port; one port does not
        #: (at 100,000 pods they would hold ~1 GB)
        self.keep_rules = False

    def _classes(self) -> tuple[list[_Class], Any]:
        # Only what some policy can read tells pods apart: labels under a key some
        # podSelector names, ports under a name some rule names, ipBlock coverage. A
        # value no In/NotIn names is None: those values agree on every requirement.
        named, port_names = _referenced(self.snapshot.policies)
        covered = self._ip_coverage()
        # one small int per distinct coverage row, not a bytes object per pod
        coverage = [0] * len(self.pods)
        if covered.size:
            inverse = np.unique(np.packbits(covered, axis=1), axis=0, return_inverse=True)[1]
            coverage = inverse.reshape(-1).tolist()
        keys: dict[tuple[object, ...], int] = {}
        classes: list[_Class] = []
        class_of: list[int] = []
        first: list[int] = []
        for i, pod in enumerate(self.pods):
            key = (
                pod.namespace,
                tuple((k, v if v in named[k] else None) for k, v in pod.labels if k in named),
                tuple(
                    (cp.name, cp.port, cp.protocol.value)
                    for cp in pod.ports
                    if cp.name in port_names
                ),
                pod.host_network,
                pod.node_name if pod.host_network else None,
                bool(pod.ips),
                coverage[i],
            )
            k = keys.get(key)
            if k is None:
                k = keys[key] = len(classes)
                classes.append(_Class(pod, self.ns_index[pod.namespace], pod.host_network))
                first.append(i)
            class_of.append(k)
        self.cover = covered[first]
        return classes, np.array(class_of, dtype=np.int64)

    def _ip_coverage(self) -> Bools:
        """[pod, ipBlock]: does the block cover the pod's IP (vectorised for IPv4)."""
        n = len(self.pods)
        covered = np.zeros((n, len(self.blocks)), dtype=bool)
        if not self.blocks or not n:
            return covered
        v4 = np.array(
            [
                int(p.ips[0]) if p.ips and isinstance(p.ips[0], IPv4Address) else -1
                for p in self.pods
            ],
            dtype=np.int64,
        )
        for b, block in enumerate(self.blocks):
            if block.cidr.version == 4:
                net, mask = int(block.cidr.network_address), int(block.cidr.netmask)
                hit = (v4 >= 0) & ((v4 & mask) == net)
                for exc in block.excepts:
                    if exc.version == 4:
                        hit &= (v4 & int(exc.netmask)) != int(exc.network_address)
                covered[:, b] = hit
        for i, pod in enumerate(self.pods):  # IPv6 and dual-stack: the exact path
            if len(pod.ips) > 1 or (pod.ips and not isinstance(pod.ips[0], IPv4Address)):
                for b, block in enumerate(self.blocks):
                    covered[i, b] = match_ip_block(block, pod.ips).matched
        return covered

    # -- selectors over classes --

    def _requirement(self, req: Requirement) -> Bools:
        result: Bools = _requirement(self.label_index, req, self.n) & self.pod_class
        return result

    def pod_selector(self, sel: LabelSelector) -> Bools:
        hit = self._selector_cache.get(sel)
        if hit is None:
            hit = self.pod_class.copy()
            for req in sel.requirements:
                hit &= self._requirement(req)
            self._selector_cache[sel] = hit
        return hit

    def namespace_selector(self, sel: LabelSelector) -> tuple[Bools, Bools]:
        """(yes, maybe) per namespace; a namespace missing from the input only has its
        name label for sure (NP-81)."""
        cached = self._ns_selector_cache.get(sel)
        if cached is not None:
            return cached
        yes = np.ones(len(self.namespaces), dtype=bool)
        for req in sel.requirements:
            yes &= _requirement(self.ns_label_index, req, len(self.namespaces))
        if not self.synthesized:
            self._ns_selector_cache[sel] = (yes, yes)
            return yes, yes
        maybe = yes.copy()
        for k in self.synthesized:
            ns = self.snapshot.namespace(self.namespaces[k])
            r = match_selector(sel, ns.label_map, only_known_key=NAMESPACE_NAME_LABEL).result
            yes[k] = r is Tri.YES
            maybe[k] = r is not Tri.NO
        self._ns_selector_cache[sel] = (yes, maybe)
        return yes, maybe

    def peer(self, peer: Peer, policy_ns: str) -> tuple[Bools, Bools]:
        """(yes, maybe) per class; one array twice when nothing is unknown (most peers:
        half the memory, and callers skip the second product)."""
        # Only NP-40 peers depend on the policy's namespace: others are shared.
        scope = policy_ns if peer.ip_block is None and peer.namespace_selector is None else ""
        key = (peer.pod_selector, peer.namespace_selector, peer.ip_block, scope)
        cached = self._peer_cache.get(key)
        if cached is not None:
            return cached
        if peer.ip_block is not None:
            result = self._ip_peer(peer.ip_block)
        else:
            pods = self.pod_selector(peer.pod_selector or LabelSelector())
            if peer.namespace_selector is None:  # NP-40: the policy's own namespace
                in_ns = pods & (self.ns_of == self.ns_index.get(policy_ns, -1))
                result = (in_ns, in_ns)
            else:
                ns_yes, ns_maybe = self.namespace_selector(peer.namespace_selector)
                yes = pods & ns_yes[self.ns_of]
                same = ns_maybe is ns_yes
                result = (yes, yes if same else pods & ns_maybe[self.ns_of])
        self._peer_cache[key] = result
        return result

    def _ip_peer(self, block: IPBlock) -> tuple[Bools, Bools]:
        """Pods with an IP: their coverage and the plugin's NP-51 behaviour; template
        and hostNetwork pods (few classes): the engine's own rule, class by class."""
        b = self.block_index[block]
        with_ip = self._with_ip
        hit = self.cover[:, b] & with_ip
        # NP-51 for pods, NP-92 for hostNetwork pods (their IP is the node's)
        yes = hit & np.where(self.pod_class, self._pod_ips_yes, self._node_ips_yes)
        maybe = hit & np.where(self.pod_class, self._pod_ips_maybe, self._node_ips_maybe)
        for k in np.nonzero(~with_ip)[0]:
            ep = endpoint_for_pod(self.snapshot, self.classes[k].rep)
            result = ip_peer_result(self.snapshot, block, ep, self.sem)
            yes[k] = result is Tri.YES
            maybe[k] = result is not Tri.NO
        return yes, maybe

    def ports(self, ports: tuple[PolicyPort, ...]) -> Bools:
        """Does some item of `ports` admit the question's port on each class as the
        destination (a named port resolves there, NP-64; never on a node, NP-65)?"""
        cached = self._ports_cache.get(ports)
        if cached is not None:
            return cached
        yes = self._ports(ports)
        self._ports_cache[ports] = yes
        return yes

    def _ports(self, ports: tuple[PolicyPort, ...]) -> Bools:
        yes = np.zeros(self.n, dtype=bool)
        if not ports:
            yes[:] = True
            return yes
        for spec in ports:
            if isinstance(spec.port, str):
                yes |= self._named_port(spec)
            elif match_port(spec, self.protocol, self.port, None).result is Tri.YES:
                yes[:] = True
                break
        return yes

    def _named_port(self, spec: PolicyPort) -> Bools:
        key = (spec.port, spec.protocol)
        hit = self._named_cache.get(key)
        if hit is None:
            hit = np.array(
                [
                    not c.host
                    and match_port(spec, self.protocol, self.port, c.rep.ports).result is Tri.YES
                    for c in self.classes
                ],
                dtype=bool,
            )
            self._named_cache[key] = hit
        return hit

    # -- the table --

    def table(self) -> Any:
        """Verdict codes [source class, destination class]."""
        n = self.n
        # egress[s, d]: the source's side; ingress[d, s]: the destination's side
        egress = np.full((n, n), _YES, dtype=np.uint8)
        for subjects, levels in self._direction(Direction.EGRESS):
            egress[subjects] = levels
        ingress = np.full((n, n), _YES, dtype=np.uint8)
        for subjects, levels in self._direction(Direction.INGRESS):
            ingress[subjects] = levels
        # Kleene AND is the lower level. Square tiles keep the transposed read in
        # cache (a block of whole rows read the other side column by column: ~4x
        # slower at 26,000 classes); each tile becomes verdict codes while it is hot.
        tile = 1024
        for a in range(0, n, tile):
            for b in range(0, n, tile):
                out = egress[a : a + tile, b : b + tile]
                np.minimum(out, ingress[b : b + tile, a : a + tile].T, out=out)
                _codes_of_levels(out)
        del ingress
        self._extended(egress)
        return egress

    def _direction(self, direction: Direction) -> Iterator[tuple[Any, Any]]:
        """Per namespace: its pod classes (subjects) and, for each, the level at which
        its side admits each other class [subject, other]; subjects no policy isolates
        are left out (they admit everything)."""
        by_ns: dict[str, list[NetworkPolicy]] = defaultdict(list)
        for p in self.snapshot.policies:
            if p.controls(direction):
                by_ns[p.namespace].append(p)
        for name in self.namespaces:
            subjects = np.nonzero((self.ns_of == self.ns_index[name]) & self.pod_class)[0]
            if not len(subjects):
                continue
            if self.snapshot.is_unreadable("networkpolicies", name):
                # whether anything isolates them is unknown
                yield subjects, np.full((len(subjects), self.n), _MAYBE, dtype=np.uint8)
                continue
            policies = by_ns.get(name, [])
            if policies:
                yield subjects, self._namespace_block(direction, policies, subjects)

    def _rules_of(
        self, direction: Direction, policies: list[NetworkPolicy], subjects: Any
    ) -> _Rules:
        """Port-independent parts, kept across the ports of a sweep: which subjects each
        rule governs [subject, rule], and which classes its peers admit [rule, class]."""
        key = (direction, policies[0].namespace)
        cached = self._rule_cache.get(key)
        if cached is not None:
            return cached
        selects = [self.pod_selector(p.pod_selector)[subjects] for p in policies]
        isolated = np.logical_or.reduce(selects)
        governs: list[Bools] = []
        peer_yes: list[Bools] = []
        peer_maybe: list[Bools] = []
        ports: list[tuple[PolicyPort, ...]] = []
        for p, sel in zip(policies, selects, strict=True):
            for rule in p.rules(direction):
                if rule.peers is None:
                    yes = maybe = np.ones(self.n, dtype=bool)
                else:
                    planes = [self.peer(peer, p.namespace) for peer in rule.peers]
                    yes = np.logical_or.reduce([pl[0] for pl in planes])
                    certain = all(pl[0] is pl[1] for pl in planes)
                    maybe = yes if certain else np.logical_or.reduce([pl[1] for pl in planes])
                governs.append(sel)
                peer_yes.append(yes)
                peer_maybe.append(maybe)
                ports.append(rule.ports)
        shape = (len(subjects), 0)
        stacked_yes = np.stack(peer_yes) if peer_yes else np.zeros((0, self.n), dtype=bool)
        certain = all(y is m for y, m in zip(peer_yes, peer_maybe, strict=True))
        result = (
            isolated,
            np.stack(governs, axis=1) if governs else np.zeros(shape, dtype=bool),
            stacked_yes,
            stacked_yes if certain else np.stack(peer_maybe),
            ports,
        )
        if self.keep_rules:
            self._rule_cache[key] = result
        return result

    def _namespace_block(
        self, direction: Direction, policies: list[NetworkPolicy], subjects: Any
    ) -> Any:
        isolated, governs, peer_yes, peer_maybe, ports = self._rules_of(
            direction, policies, subjects
        )
        levels = np.zeros((len(subjects), self.n), dtype=np.uint8)
        if ports:
            # port_ok[r, c]: rule r's ports admit the question's port on class c as the
            # destination (a named port resolves there, NP-64)
            if direction is Direction.EGRESS:
                port_ok = np.stack([self.ports(p) for p in ports])
                a = governs
                b_yes = peer_yes & port_ok
                b_maybe = b_yes if peer_maybe is peer_yes else peer_maybe & port_ok
            else:  # ingress: the destination is the subject itself
                a = governs & np.stack([self.ports(p)[subjects] for p in ports], axis=1)
                b_yes, b_maybe = peer_yes, peer_maybe
            # yes implies maybe, so the level (0 no, 1 unknown, 2 yes) is their sum
            levels += _any_rule(a, b_yes)
            if b_maybe is b_yes or np.array_equal(b_yes, b_maybe):
                levels *= 2
            else:
                levels += _any_rule(a, b_maybe)
        if self.protocol is Protocol.ICMP:  # NP-100: undefined once isolated
            levels[:] = _MAYBE
        levels[~isolated] = _YES
        return levels

    def _extended(self, table: Any) -> None:
        """Unevaluated policy families can deny: an NP "allowed" becomes "unknown"."""
        snap = self.snapshot
        if any(x.ref.namespace is None for x in self.pending) or snap.unreadable_extended(set()):
            table[table == ALLOWED] = UNKNOWN
            return
        touched = {x.ref.namespace for x in self.pending if x.ref.namespace}
        touched |= {
            r.namespace for r in snap.unreadable_extended(set(self.namespaces)) if r.namespace
        }
        if not touched:
            return
        hit = np.isin(self.ns_of, [self.ns_index[n] for n in touched if n in self.ns_index])
        table[(hit[:, None] | hit[None, :]) & (table == ALLOWED)] = UNKNOWN

    def _extended_touches(self, a: str, b: str) -> bool:
        namespaces = {a, b}
        snap = self.snapshot
        if any(x.ref.namespace is None or x.ref.namespace in namespaces for x in self.pending):
            return True
        return bool(snap.unreadable_extended(namespaces))

    # -- pod-level exceptions --

    def patches(self, table: Any) -> dict[tuple[int, int], int]:
        """What holds per pod, not per class: a pod to itself is allowed (NP-93); from
        its own node a pod is always reachable (NP-90); egress to the own node is up to
        the plugin (NP-91). "Allowed" stays subject to unevaluated policy families."""
        touches = functools.cache(self._extended_touches)
        want_self = np.array(
            [UNKNOWN if touches(p.namespace, p.namespace) else ALLOWED for p in self.pods],
            dtype=np.uint8,
        )
        diagonal = table[self.class_of, self.class_of]
        patched = np.nonzero(diagonal != want_self)[0].tolist()
        want_list = want_self.tolist()
        out = {(i, i): want_list[i] for i in patched}
        by_node: dict[str, list[int]] = defaultdict(list)
        for j, p in enumerate(self.pods):
            if p.node_name and not p.host_network:
                by_node[p.node_name].append(j)
        on_node = {name: np.array(js, dtype=np.int64) for name, js in by_node.items()}
        pod_ns = self.ns_of[self.class_of]
        wants: dict[str, Any] = {}  # per host namespace: the want for each namespace
        for h, host in enumerate(self.pods):
            js = on_node.get(host.node_name or "") if host.host_network else None
            if js is None:
                continue
            if host.namespace not in wants:
                wants[host.namespace] = np.array(
                    [UNKNOWN if touches(host.namespace, n) else ALLOWED for n in self.namespaces],
                    dtype=np.uint8,
                )
            want = wants[host.namespace][pod_ns[js]]
            ch, cj = self.class_of[h], self.class_of[js]
            # host -> pod: its egress is exempt, and ingress from the own node too
            bad = np.nonzero(table[ch, cj] != want)[0]
            out.update(zip([(h, j) for j in js[bad].tolist()], want[bad].tolist(), strict=True))
            # pod -> host: a denial can only come from egress, and is plugin-defined
            denied = js[table[cj, ch] == DENIED].tolist()
            out.update(((j, h), UNKNOWN) for j in denied)
        return out


def _referenced(policies: Sequence[NetworkPolicy]) -> tuple[dict[str, set[str]], set[str]]:
    """Label keys any podSelector reads (with the values some In/NotIn names), and
    port names any rule names."""
    keys: dict[str, set[str]] = {}
    names: set[str] = set()

    def read(sel: LabelSelector) -> None:
        for r in sel.requirements:
            keys.setdefault(r.key, set()).update(r.values)

    for p in policies:
        read(p.pod_selector)
        for rule in (*p.ingress, *p.egress):
            names |= {pp.port for pp in rule.ports if isinstance(pp.port, str)}
            for peer in rule.peers or ():
                if peer.pod_selector is not None:
                    read(peer.pod_selector)
    return keys, names


def _any_rule(governs: Bools, admits: Bools) -> Bools:
    """[subject, class]: some rule governing the subject admits the class; the boolean
    product governs [subject, rule] @ admits [rule, class]. A loop over the rules
    rather than BLAS: these products are small and many, and a threaded BLAS on a busy
    machine makes each one milliseconds instead of microseconds."""
    out = np.zeros((governs.shape[0], admits.shape[1]), dtype=bool)
    for r in range(governs.shape[1]):
        hit = governs[:, r]
        if hit.all():
            out |= admits[r]
        elif hit.any():
            out[hit] |= admits[r]
    return out


def _requirement(index: _LabelIndex, req: Requirement, size: int) -> Bools:
    """One requirement over `size` objects, from their label index (key -> value ->
    object indices)."""
    out = np.zeros(size, dtype=bool)
    values = index.get(req.key, {})
    if req.operator in (Operator.IN, Operator.NOT_IN):
        for v in req.values:
            out[values.get(v, [])] = True
        if req.operator is Operator.NOT_IN:
            out = ~out  # SEL-3: NotIn holds where the key is absent too
    else:
        for members in values.values():
            out[members] = True
        if req.operator is Operator.DOES_NOT_EXIST:
            out = ~out
    return out


def _ip_blocks(policies: Sequence[NetworkPolicy]) -> list[IPBlock]:
    seen: dict[IPBlock, None] = {}
    for p in policies:
        for rule in (*p.ingress, *p.egress):
            for peer in rule.peers or ():
                if peer.ip_block is not None:
                    seen.setdefault(peer.ip_block, None)
    return list(seen)


# --- every port at once ------------------------------------------------------------


@dataclass
class PortSweep:
    """`matrix --all-ports`: the ports any pod declares or any rule names, swept in
    groups of ports no rule can tell apart (one class-level table per group)."""

    pods: tuple[Pod, ...]
    groups: list[tuple[tuple[tuple[Protocol, int], ...], Matrix]]

    @property
    def ports(self) -> list[tuple[Protocol, int]]:
        return sorted(
            (p for ports, _ in self.groups for p in ports), key=lambda p: (p[0].value, p[1])
        )

    def pair(self, i: int, j: int) -> dict[Verdict, list[tuple[Protocol, int]]]:
        out: dict[Verdict, list[tuple[Protocol, int]]] = {v: [] for v in CODES}
        for ports, m in self.groups:
            out[m.verdict(i, j)].extend(ports)
        return out

    def row_codes(self, i: int) -> list[Any]:
        return [m.row(i) for _, m in self.groups]


def all_ports(snapshot: Snapshot) -> list[tuple[Protocol, int]]:
    ports: set[tuple[Protocol, int]] = set()
    for pod in snapshot.pods:
        ports |= {(cp.protocol, cp.port) for cp in pod.ports}
    for p in snapshot.policies:
        for rule in (*p.ingress, *p.egress):
            for spec in rule.ports:
                if isinstance(spec.port, int):
                    ports |= {(spec.protocol, n) for n in span(spec.port, spec.end_port)}
    ports |= family_ports(snapshot)
    return sorted(ports, key=lambda p: (p[0].value, p[1]))


def _port_signature(snapshot: Snapshot, proto: Protocol, port: int) -> tuple[object, ...]:
    """What tells this port apart from others: the numeric rule ports that admit it,
    and the names that resolve to it on some pod."""
    specs = {
        spec
        for p in snapshot.policies
        for rule in (*p.ingress, *p.egress)
        for spec in rule.ports
        if not isinstance(spec.port, str) and match_port(spec, proto, port, None).result is Tri.YES
    }
    names = {
        cp.name
        for pod in snapshot.pods
        for cp in pod.ports
        if cp.protocol is proto and cp.port == port
    }
    return (proto, frozenset(specs), frozenset(n for n in names if n))


def compute_port_sweep(
    snapshot: Snapshot,
    namespaces: Sequence[str] = (),
    cni: CniInfo | None = None,
    ports: Sequence[tuple[Protocol, int]] | None = None,
) -> PortSweep:
    """`ports`: the ports to sweep (default `all_ports`; a workload table adds one port
    no rule names per protocol, to tell "all" from "every port listed")."""
    cni = cni or detect_cni(snapshot)
    swept_ports = all_ports(snapshot) if ports is None else list(ports)
    groups: dict[tuple[object, ...], list[tuple[Protocol, int]]] = defaultdict(list)
    for proto, port in swept_ports:
        groups[_port_signature(snapshot, proto, port)].append((proto, port))
    pods = list(pods_in_scope(snapshot, namespaces))
    if not cni.enforces_policy or _exact_only(snapshot, cni):
        # The same answer as `matrix --port P` and `diagnose` for each port: the data
        # plane's (no enforcement), or the layered engine pair by pair.
        # Ports are not grouped here: other families' rules name ports NetworkPolicy's
        # port signature does not see.
        return PortSweep(
            tuple(pods),
            [
                (((proto, port),), compute_matrix(snapshot, port, proto, namespaces, cni))
                for proto, port in swept_ports
            ],
        )
    # One context: classes, selector and peer vectors do not depend on the port.
    ctx = _Context(snapshot, pods, semantics_for(cni), 0, Protocol.TCP)
    ctx.keep_rules = True
    swept = []
    for ports in groups.values():
        ctx.port, ctx.protocol = ports[0][1], ports[0][0]
        ctx._named_cache.clear()
        ctx._ports_cache.clear()
        table = ctx.table()
        m = Matrix(
            ctx.port, ctx.protocol, tuple(pods), cni, ctx.class_of, table, ctx.patches(table)
        )
        swept.append((tuple(ports), _aws_limited(snapshot, m, ctx.sem)))
    return PortSweep(tuple(pods), swept)
