"""`rule-shadowed`: a rule that admits nothing another rule does not already admit for
the same pods and direction, so removing it changes no verdict (NCA's "redundant").

Decided conservatively, on structure alone, so a report is always right: rule R of
policy P is shadowed by rule R' of policy Q (Q = P allowed) when Q is in P's namespace,
controls the direction, selects every pod P selects (Q's podSelector is implied by
P's), every peer of R lies inside one peer of R' (selector implication; ipBlock
containment net of `except`) and every port of R inside one port of R'. Coverage by
the union of several rules is not looked for. Imports `model`, `findings`,
`explain`, `lint_rules`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .explain import rule_name
from .findings import Finding, Fix, Severity
from .lint_rules import LintContext, subnet
from .model import (
    NAMESPACE_NAME_LABEL,
    Direction,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    Operator,
    Peer,
    PolicyPort,
    Requirement,
    Rule,
)

__all__ = ["rule_shadowed", "rule_within", "selector_within"]


def _implies(a: Requirement, b: Requirement) -> bool:
    """Every label set satisfying `a` satisfies `b` (same key; SEL-3 semantics)."""
    if a.key != b.key:
        return False
    av, bv = set(a.values), set(b.values)
    if b.operator is Operator.IN:
        return a.operator is Operator.IN and av <= bv
    if b.operator is Operator.EXISTS:
        return a.operator in (Operator.IN, Operator.EXISTS)
    if b.operator is Operator.NOT_IN:
        return (
            (a.operator is Operator.IN and not av & bv)
            or (a.operator is Operator.NOT_IN and bv <= av)
            or a.operator is Operator.DOES_NOT_EXIST
        )
    return a.operator is Operator.DOES_NOT_EXIST


def selector_within(a: LabelSelector, b: LabelSelector) -> bool:
    """Everything `a` selects, `b` selects: each term of `b` follows from a term of `a`."""
    return all(any(_implies(ra, rb) for ra in a.requirements) for rb in b.requirements)


def _by_name(namespace: str) -> LabelSelector:
    return LabelSelector((Requirement(NAMESPACE_NAME_LABEL, Operator.IN, (namespace,)),))


def _scope(peer: Peer, policy: NetworkPolicy) -> LabelSelector:
    """The peer's namespaces as a selector: absent = the policy's own (NP-40), by its
    immutable name label (NP-80)."""
    if peer.namespace_selector is None:
        return _by_name(policy.namespace)
    return peer.namespace_selector


def _block_within(a: IPBlock, b: IPBlock) -> bool:
    """a's addresses (cidr minus excepts) are all in b's."""
    if not subnet(a.cidr, b.cidr):
        return False
    for e in b.excepts:
        if not (subnet(e, a.cidr) or subnet(a.cidr, e)):
            continue  # disjoint from a
        if subnet(a.cidr, e):
            return False
        if not any(subnet(e, ea) for ea in a.excepts):
            return False
    return True


def _peer_within(a: Peer, pa: NetworkPolicy, b: Peer, pb: NetworkPolicy) -> bool:
    if a.ip_block is not None or b.ip_block is not None:
        return (
            a.ip_block is not None
            and b.ip_block is not None
            and _block_within(a.ip_block, b.ip_block)
        )
    return selector_within(_scope(a, pa), _scope(b, pb)) and selector_within(
        a.pod_selector or LabelSelector(), b.pod_selector or LabelSelector()
    )


def _port_within(a: PolicyPort, b: PolicyPort) -> bool:
    if a.protocol is not b.protocol:
        return False
    if b.port is None:
        return True
    if a.port is None or isinstance(a.port, str) or isinstance(b.port, str):
        return a.port == b.port and a.end_port is None and b.end_port is None
    return b.port <= a.port and (a.end_port or a.port) <= (b.end_port or b.port)


def rule_within(a: Rule, pa: NetworkPolicy, b: Rule, pb: NetworkPolicy) -> bool:
    """Every (peer, port) rule `a` admits, rule `b` admits (NP-32, NP-33: absent = all)."""
    if b.peers is not None and (
        a.peers is None
        or not all(any(_peer_within(x, pa, y, pb) for y in b.peers) for x in a.peers)
    ):
        return False
    if not b.ports:
        return True
    return bool(a.ports) and all(any(_port_within(x, y) for y in b.ports) for x in a.ports)


def _covers(q: NetworkPolicy, r2: Rule, p: NetworkPolicy, r: Rule) -> bool:
    """(q, r2) makes (p, r) redundant: q selects p's pods and r2 admits all r admits."""
    return selector_within(p.pod_selector, q.pod_selector) and rule_within(r, p, r2, q)


def rule_shadowed(ctx: LintContext) -> Iterator[Finding]:
    """Rules every verdict would keep without (see the module docstring).

    For each rule, the first other rule (in policy-name, then rule order) that covers it
    is named; equivalent rules report only the later one. Candidates come from `_Index`,
    so a policy with thousands of distinct rules costs about as many comparisons."""
    for namespace in sorted(ctx.snapshot.policies_by_namespace):
        policies = sorted(ctx.snapshot.policies_by_namespace[namespace], key=lambda p: p.ref.name)
        for d in Direction:
            entries = [(p, r) for p in policies if p.controls(d) for r in p.rules(d)]
            index = _Index(entries)
            for i, (p, r) in enumerate(entries):
                for j in index.candidates(i):
                    q, r2 = entries[j]
                    if j == i or not _covers(q, r2, p, r):
                        continue
                    if j > i and _covers(p, r, q, r2):
                        continue  # equivalent rules: only the later one is reported
                    yield _finding(p, r, q, r2)
                    break


# --- candidate index ----------------------------------------------------------------
# A rule can only be covered by a rule one of whose peers covers its first peer and one
# of whose ports covers its first port. Each peer and port of a coverer is filed under
# tokens such that whatever it covers looks up at least one of them; what cannot be
# filed (an empty `In`, a port range) goes under a token every lookup includes. The
# exact test (`_covers`) still decides: the index only skips rules that cannot cover.

_Token = tuple[object, ...]
_ANY: _Token = ("any",)


def _requirement_tokens(where: str, r: Requirement) -> list[_Token]:
    """Where a term `r` of a covering selector is filed: any term implying it (`_implies`)
    looks up one of these."""
    if r.operator is Operator.IN:
        return [(where, r.key, "in", v) for v in r.values] or [_ANY]
    if r.operator is Operator.EXISTS:
        return [(where, r.key, "exists")]
    if r.operator is Operator.NOT_IN:
        return [(where, r.key, "notin")]
    return [(where, r.key, "dne")]


def _lookup_tokens(where: str, r: Requirement) -> list[_Token] | None:
    """The tokens under which a term implied by `r` is filed; None: too many to list."""
    if r.operator is Operator.IN:
        if not r.values:
            return None  # an empty In implies every In on its key
        implied = ("in", min(r.values)), ("exists",), ("notin",)
        return [(where, r.key, *what) for what in implied]
    if r.operator is Operator.EXISTS:
        return [(where, r.key, "exists")]
    if r.operator is Operator.NOT_IN:
        return [(where, r.key, "notin")]
    return [(where, r.key, "notin"), (where, r.key, "dne")]


def _peer_file(peer: Peer, policy: NetworkPolicy) -> list[_Token]:
    if peer.ip_block is not None:
        return [("ip", peer.ip_block.cidr)]
    # Every term of a covering peer must be implied; filing it under one term suffices.
    pods = peer.pod_selector.requirements if peer.pod_selector is not None else ()
    if pods:
        return _requirement_tokens("pod", pods[0])
    scope = _scope(peer, policy).requirements
    return _requirement_tokens("ns", scope[0]) if scope else [_ANY]


def _peer_lookup(peer: Peer, policy: NetworkPolicy) -> list[_Token] | None:
    if peer.ip_block is not None:
        cidr = peer.ip_block.cidr
        return [_ANY] + [("ip", cidr.supernet(new_prefix=n)) for n in range(cidr.prefixlen + 1)]
    out = [_ANY]
    for where, sel in (("pod", peer.pod_selector), ("ns", _scope(peer, policy))):
        for r in sel.requirements if sel is not None else ():
            tokens = _lookup_tokens(where, r)
            if tokens is None:
                return None
            out += tokens
    return out


def _port_file(port: PolicyPort) -> _Token:
    if port.port is None:
        return ("port", port.protocol)
    if isinstance(port.port, str) or port.end_port is None:
        return ("port", port.protocol, port.port)
    return ("port", port.protocol, "range")


def _port_lookup(port: PolicyPort) -> list[_Token]:
    out: list[_Token] = [("port", port.protocol)]
    if port.port is not None:
        out.append(("port", port.protocol, port.port))
        if not isinstance(port.port, str):
            out.append(("port", port.protocol, "range"))
    return out


class _Index:
    """Which entries could cover a given one (a superset of those that do), in order."""

    def __init__(self, entries: list[tuple[NetworkPolicy, Rule]]) -> None:
        self.entries = entries
        self.peers: dict[_Token, set[int]] = {}
        self.ports: dict[_Token, set[int]] = {}
        self.all_peers: set[int] = set()  # from/to absent: every peer
        self.all_ports: set[int] = set()  # ports absent: every port
        for j, (q, r2) in enumerate(entries):
            if r2.peers is None:
                self.all_peers.add(j)
            for y in r2.peers or ():
                for token in _peer_file(y, q):
                    self.peers.setdefault(token, set()).add(j)
            if not r2.ports:
                self.all_ports.add(j)
            for port in r2.ports:
                self.ports.setdefault(_port_file(port), set()).add(j)

    def candidates(self, i: int) -> list[int]:
        p, r = self.entries[i]
        found = set(self.all_peers)
        if r.peers:
            tokens = _peer_lookup(r.peers[0], p)
            if tokens is None:
                found = set(range(len(self.entries)))
            else:
                found.update(*(self.peers.get(t, ()) for t in tokens))
        elif r.peers is not None:  # an empty list: every coverer's peers hold vacuously
            found = set(range(len(self.entries)))
        ports = set(self.all_ports)
        if r.ports:
            ports.update(*(self.ports.get(t, ()) for t in _port_lookup(r.ports[0])))
        return sorted(found & ports)


def _finding(p: NetworkPolicy, r: Rule, q: NetworkPolicy, r2: Rule) -> Finding:
    everything = r2.peers is None and not r2.ports
    other = rule_name(q, r2, r2.direction)
    what = (
        f"{other} admits all {r.direction.value.lower()} traffic"
        if everything
        else f"{other} admits every peer and port it does"
    )
    scope = "" if q is p else " (for all the pods this policy selects, and possibly more)"
    msg = (
        f"{rule_name(p, r, r.direction)} is shadowed: {what}{scope}, so removing it changes "
        "no verdict"
    )
    refs = (p.ref,) if q is p else (p.ref, q.ref)
    fix = Fix("delete the redundant rule, or narrow the other rule if it admits more than meant")
    return Finding("rule-shadowed", Severity.INFO, msg, refs, r.path, fix)
